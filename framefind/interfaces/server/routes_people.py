"""People (``index --faces``): list them with a face each, name, merge and forget them; a face as a JPEG."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from framefind.errors import ClientError, FrameFindError
from framefind.interfaces.server.schemas import ErrorOut

router = APIRouter(prefix="/api", tags=["people"], responses={400: {"model": ErrorOut}})


class PersonOut(BaseModel):
    id: int
    name: str | None = Field(None, description="Given by the user; null until then")
    faces: int
    paths: list[str] = Field(description="The files where the person appears, best (largest face) first")
    face_url: str = Field(description="A JPEG of their largest face")


class PeopleOut(BaseModel):
    people: list[PersonOut]
    unsorted: int = Field(description="Faces seen once, not yet anyone (they join a person when seen again)")


class NameIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class MergeIn(BaseModel):
    keep: int = Field(description="The person who stays (and keeps their name)")
    other: int = Field(description="The person whose faces become keep's")


@router.get("/people", response_model=PeopleOut, summary="Who is in the pictures, named first")
def people(request: Request) -> PeopleOut:
    book = request.app.state.library.people
    return PeopleOut(people=[PersonOut(id=p.id, name=p.name, faces=p.faces, paths=p.paths,
                                       face_url=f"/api/faces/{p.face}.jpg") for p in book.list()],
                     unsorted=book.unsorted())


@router.post("/people/{person_id}/name", response_model=PeopleOut, summary="Name a person")
def name(request: Request, person_id: int, body: NameIn) -> PeopleOut:
    request.app.state.library.people.name(person_id, body.name)
    return people(request)


@router.post("/people/merge", response_model=PeopleOut, summary="Two people are one: other's faces become keep's")
def merge(request: Request, body: MergeIn) -> PeopleOut:
    request.app.state.library.people.merge(body.keep, body.other)
    return people(request)


@router.delete("/people/{person_id}", response_model=PeopleOut, summary="Forget a person and their face data")
def forget(request: Request, person_id: int) -> PeopleOut:
    request.app.state.library.people.forget(person_id)
    return people(request)


@router.get("/faces/{face_id}.jpg", summary="A face as a small square JPEG", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorOut}})
def face(request: Request, face_id: int) -> Response:
    from framefind.search.face_crops import face_crop

    try:
        jpeg = face_crop(request.app.state.library.people, face_id)
    except ClientError:
        raise
    except FrameFindError as exc:
        raise ClientError(str(exc), 404) from None
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})
