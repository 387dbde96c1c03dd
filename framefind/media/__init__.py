"""Media: finding and hashing files, decoding images and videos, cutting clips."""
