"""Faces and who they are, on real photos: face_recognition 1.3.0's test photos (Obama, Biden; its sdist is
fetched into .cache/face-photos by `pip download --no-deps --no-binary :all: face_recognition==1.3.0`),
scikit-image's astronaut (Eileen Collins) and coffee, and OpenCV's messi5.jpg (Debian opencv-doc)."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import skimage_data
from PIL import Image

from framefind.errors import FrameFindError
from framefind.media import faces

ROOT = Path(__file__).resolve().parent.parent
SDIST = Path(os.environ.get("FRAMEFIND_FACE_PHOTOS", ROOT / ".cache/face-photos/face_recognition-1.3.0.tar.gz"))
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
OBAMAS = ("obama", "obama2", "obama3")


def rgb(name: str) -> np.ndarray:
    return np.asarray(Image.open(skimage_data() / name).convert("RGB"))


@pytest.fixture(scope="module")
def model() -> None:
    if faces.available() is not None:
        pytest.skip("dlib-bin / face-recognition-models not installed (the faces extra)")


@pytest.fixture(scope="module")
def photos(model: None) -> dict[str, np.ndarray]:
    """The face_recognition sdist's test photos, read straight from the tarball."""
    if not SDIST.is_file():
        pytest.skip(f"face_recognition 1.3.0 sdist not at {SDIST} (pip download --no-deps --no-binary :all: "
                    "face_recognition==1.3.0 -d .cache/face-photos)")
    found = {}
    with tarfile.open(SDIST) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.parent.name == "test_images" and name.suffix == ".jpg" and (data := tar.extractfile(member)):
                found[name.stem] = np.asarray(Image.open(io.BytesIO(data.read())).convert("RGB"))
    return found


@pytest.fixture(scope="module")
def found(photos: dict[str, np.ndarray]) -> dict[str, list[faces.Face]]:
    """faces_in once per photo (each takes 0.1-0.5 s)."""
    pictures = {**photos, "astronaut": rgb("astronaut.png"), "coffee": rgb("coffee.png")}
    return {name: faces.faces_in(picture) for name, picture in pictures.items()}


def test_available_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import dlib  # noqa: F401
        installed = faces._model_dir() is not None
    except ImportError:
        installed = False
    assert faces.available() == (None if installed else faces.EXTRA)
    monkeypatch.setattr(faces, "_model_dir", lambda: None)  # dlib without the model files
    monkeypatch.setattr(faces, "_models", None)
    assert faces.available() == "faces need the faces extra: pip install 'framefind[faces]'"
    with pytest.raises(FrameFindError, match=r"^faces need the faces extra: pip install 'framefind\[faces\]'$"):
        faces.faces_in(np.full((64, 64, 3), 128, np.uint8))


def test_obama_photos_are_one_person_and_each_others_nearest(found: dict[str, list[faces.Face]]) -> None:
    for name in OBAMAS:
        assert len(found[name]) == 1, name
    # the partial faces are crops of obama.jpg: left out, or obama's nearest would be its own crop
    everyone = [(name, face) for name, seen in found.items() if "partial" not in name for face in seen]
    for name in OBAMAS:
        mine = found[name][0]
        for other in OBAMAS:
            if other != name:
                assert faces.distance(mine, found[other][0]) < faces.SAME_PERSON, (name, other)
        nearest = min((pair for pair in everyone if pair[0] != name), key=lambda pair: faces.distance(mine, pair[1]))
        assert nearest[0] in OBAMAS, (name, nearest[0])


def test_others_are_beyond_same_person_from_every_obama(found: dict[str, list[faces.Face]]) -> None:
    biden, astronaut = found["biden"], found["astronaut"]
    assert len(biden) == 1 and astronaut
    collins = astronaut[0]  # best score first: her face, not the mission patch
    assert collins.score > 1.0 and 0.3 < collins.box[0] < 0.5 and collins.box[1] < 0.3
    for name in OBAMAS:
        for other in (biden[0], collins):
            assert faces.distance(found[name][0], other) > faces.SAME_PERSON, name


def test_messi_is_not_obama(found: dict[str, list[faces.Face]]) -> None:
    if not MESSI.is_file():
        pytest.skip("Debian package opencv-doc is not installed (messi5.jpg)")
    picture = np.asarray(Image.open(MESSI).convert("RGB"))  # 548 x 342: a 38-px face, found only enlarged
    messi = faces.faces_in(picture)
    assert len(messi) == 1 and messi[0].box[2] * picture.shape[1] < 50
    for name in OBAMAS:
        assert faces.distance(found[name][0], messi[0]) > faces.SAME_PERSON


def test_partial_faces_at_the_edge_are_obama_with_boxes_inside(found: dict[str, list[faces.Face]]) -> None:
    for name in ("obama_partial_face", "obama_partial_face2"):
        assert len(found[name]) == 1, name
        assert min(faces.distance(found[name][0], found[other][0]) for other in OBAMAS) < faces.SAME_PERSON
    assert found["obama_partial_face"][0].box[0] == 0.0  # cut by the left edge: clipped, not negative
    for name, seen in found.items():
        for face in seen:
            x, y, w, h = face.box
            assert 0 <= x <= 1 and 0 <= y <= 1 and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9, name
            assert face.vector.shape == (128,) and face.vector.dtype == np.float32


def test_no_face_in_coffee(found: dict[str, list[faces.Face]]) -> None:
    assert found["coffee"] == []


def test_tiny_grey_and_odd_pictures(model: None) -> None:
    assert faces.faces_in(np.zeros((1, 1, 3), np.uint8)) == []
    assert faces.faces_in(rgb("astronaut.png")[:12, :300]) == []
    assert faces.faces_in(np.full((480, 640, 3), 128, np.uint8)) == []
    astronaut = rgb("astronaut.png")
    grey = faces.faces_in(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))  # 2-D arrays are grey pictures
    rgba = faces.faces_in(np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]))
    assert grey and rgba and faces.distance(grey[0], rgba[0]) < faces.SAME_PERSON
    for bad in ("astronaut.png", np.zeros(5), np.zeros((8, 8, 2))):
        with pytest.raises(FrameFindError, match=r"^faces_in needs [^\n]+$"):
            faces.faces_in(bad)


def test_small_and_huge_pictures_find_the_same_face(model: None) -> None:
    astronaut = rgb("astronaut.png")
    full = faces.faces_in(astronaut)[0]
    small = faces.faces_in(cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA))  # a 45-px face
    huge_picture = cv2.resize(astronaut, (6000, 6000), interpolation=cv2.INTER_CUBIC)
    huge = faces.faces_in(huge_picture)
    assert small and huge
    for other in (small[0], huge[0]):
        assert np.allclose(other.box, full.box, atol=0.03)
        assert faces.distance(full, other) < faces.SAME_PERSON / 2


def test_threads_share_one_model(model: None) -> None:
    astronaut = rgb("astronaut.png")
    alone = faces.faces_in(astronaut)
    results: list[list[faces.Face]] = []
    threads = [threading.Thread(target=lambda: results.append(faces.faces_in(astronaut))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for seen in results:
        assert [face.box for face in seen] == [face.box for face in alone]
        assert all(np.array_equal(a.vector, b.vector) for a, b in zip(seen, alone, strict=True))
