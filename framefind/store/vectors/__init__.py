"""Vector index backends behind one small interface, chosen by name (FAISS; Milvus plugs in the same way)."""
