"""A face as a small JPEG (the People view shows one per person): cut from the file at request time, so no
pixels are stored beyond the descriptors."""

from __future__ import annotations

import io

from PIL import Image

from framefind.store.people import People

CROP_SIDE = 160  # px of the square crop
MARGIN = 0.35  # of the face's size, around it: hair and chin make a face recognisable


def face_crop(people: People, face_id: int) -> bytes:
    """The face ``face_id`` as a square JPEG of CROP_SIDE px."""
    from framefind.media.images import load_upright
    from framefind.media.video import sample_frames

    path, kind, at, (x, y, w, h) = people.face(face_id)
    if kind == "video":
        picture = next((frame for time, frame in sample_frames(path, 0.5, 1600) if at is None or time >= at), None)
    else:
        picture = load_upright(path, 1600)
    image = Image.fromarray(picture)
    side = max(w * image.width, h * image.height) * (1 + 2 * MARGIN)
    cx, cy = (x + w / 2) * image.width, (y + h / 2) * image.height
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    out = io.BytesIO()
    image.crop(box).resize((CROP_SIDE, CROP_SIDE)).save(out, "JPEG", quality=85)
    return out.getvalue()
