"""The one base of faceaug's model files: a network's tensors in safetensors, and a JSON header naming the file's
kind, its format version, the architecture that rebuilds the network and whatever the model records of itself.

A kind of model file is described once (`FileKind`: its name, how messages call it, its format version, the header
keys it needs), and `ModelFile` does the common work for every kind, as diffusers' ModelMixin does with
save_pretrained / from_pretrained:

    class Model(ModelFile):
        file_kind = FileKind("faceaug-model", "model file", required=("architecture",))

        def file_header(self) -> dict: ...         # the header, less the kind and version the base adds
        def file_tensors(self) -> dict: ...        # name → tensor
        @classmethod
        def from_file(cls, path, header, tensors, **options) -> Model: ...  # check sizes, build, fill

    model.save(path)                       # atomic; tensors detached, on the CPU, contiguous
    Model.load(path, **options)            # a UserError of one sentence for anything but a sound file of this kind

Loading refuses, each with one sentence naming the file: a missing or unreadable file, a file of another kind or
none, a newer format (`faceaug.io.versions`), a header without a key the kind needs, weights that are not finite
numbers (`refuse_non_finite`), and (in `from_file`, through `check_architecture`, `layer_weight` and
`load_weights`) an architecture its tensors do not fit. Files whose class cannot own them use the same two steps
as functions: `write_model_file` and `read_model_file`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from faceaug.errors import UserError
from faceaug.io.safetensors_files import NotSafetensors, read_tensors, write_tensors
from faceaug.io.versions import check_format_version

#: The safetensors metadata key holding the JSON header.
HEADER_KEY = "faceaug"


@dataclass(frozen=True)
class FileKind:
    """What one kind of model file is called and what its header must hold."""

    name: str  # the value of the header's `key` in a file of this kind
    what: str  # how messages name a file of this kind ("GANimation model")
    key: str = "format"  # the header key naming the kind
    version: int = 1  # the newest format version this faceaug reads and writes
    versioned: bool = True  # whether files carry their version (a file without one reads as version 1)
    required: tuple[str, ...] = ()  # header keys a file must have
    advice: str = ""  # what to do about a missing or foreign file, a clause ("train one with `faceaug train`")
    #: False: the header is one JSON object under the metadata key "faceaug". True: each header entry is a metadata
    #: key of its own, the kind as plain text and every other value as JSON.
    flat: bool = False

    def complete(self, header: Mapping[str, Any]) -> dict[str, Any]:
        """`header` with the kind (and the version) first, unless it names them itself."""
        start = {self.key: self.name, **({"version": self.version} if self.versioned else {})}
        return {**start, **header}

    def encode(self, header: Mapping[str, Any]) -> dict[str, str]:
        """The safetensors metadata holding `header`."""
        if not self.flat:
            return {HEADER_KEY: json.dumps(header)}
        return {name: value if name == self.key else json.dumps(value) for name, value in header.items()}

    def decode(self, metadata: Mapping[str, str]) -> dict[str, Any] | None:
        """The header stored in `metadata`; None when there is none or it is not JSON."""
        try:
            if self.flat:
                header = {name: text if name == self.key else json.loads(text) for name, text in metadata.items()}
            else:
                header = json.loads(metadata[HEADER_KEY])
        except (KeyError, TypeError, ValueError):
            return None
        return header if isinstance(header, dict) else None

    def sentence(self, text: str) -> str:
        """`text` as a sentence, with the advice when there is one."""
        return f"{text} ({self.advice})." if self.advice else f"{text}."


def write_model_file(tensors: Mapping[str, Any], header: Mapping[str, Any], path: Path, kind: FileKind) -> Path:
    """Write a model file of `kind` atomically: the tensors (detached, on the CPU, contiguous) and the header."""
    stored = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    return write_tensors(stored, kind.encode(kind.complete(header)), Path(path))


def read_model_file(path: Path, kind: FileKind, missing: str | None = None) -> tuple[dict[str, Any], dict]:
    """(header, tensors) of a file of `kind`, or a UserError of one sentence: missing (message `missing`, default
    "WHAT PATH does not exist."), unreadable, of another kind, of a newer format, incomplete, or holding weights that
    are not finite numbers."""
    path = Path(path)
    if not path.is_file():
        raise UserError(missing or kind.sentence(f"{kind.what} {path} does not exist"))
    try:
        metadata, tensors = read_tensors(path, kind.what)
    except NotSafetensors as exc:
        raise UserError(kind.sentence(f"{kind.what} {path} could not be read: {exc}")) from None
    header = kind.decode(metadata)
    found = None if header is None else header.get(kind.key)
    if found != kind.name:
        why = "it has no faceaug header" if header is None else f"its {kind.key} is {found!r}"
        raise UserError(f"{path} is not a faceaug {kind.what} ({why}).")
    check_format_version(path, kind.what, header.get("version", 1), kind.version, _written_by(header))
    absent = [key for key in kind.required if key not in header]
    if absent:
        raise UserError(f"{path} is an incomplete faceaug {kind.what} (no {', '.join(absent)}).")
    return header, tensors


def _written_by(header: Mapping[str, Any]) -> Any:
    """The faceaug version that wrote a file, where its header records it."""
    provenance = header.get("provenance")
    recorded = provenance.get("faceaug_version") if isinstance(provenance, dict) else None
    return header.get("faceaug_version") or recorded


def layer_weight(path: Path, what: str, tensors: Mapping[str, Any], name: str, dims: int):
    """The stored tensor `name`, which must exist with `dims` dimensions (a layer whose size the header's
    architecture is checked against); otherwise the file is damaged."""
    tensor = tensors.get(name)
    if getattr(tensor, "ndim", None) != dims:
        raise UserError(f"{path} is a damaged {what}: it holds no {name} weights of {dims} dimensions.")
    return tensor


def load_weights(module, state: Mapping[str, Any], path: Path, what: str):
    """`module` (an nn.Module) filled with `state`, strictly; weights that do not fit it are a UserError."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        why = " ".join(str(exc).split()).rstrip(".")  # PyTorch's lines, as one clause
        raise UserError(f"{path} holds weights that do not fit its own {what} architecture ({why}).") from None
    return module


class ModelFile:
    """The base of a model that owns its file: `save` and `load` over the three methods a subclass provides."""

    file_kind: ClassVar[FileKind]

    def file_header(self) -> dict[str, Any]:
        """The JSON header, in the order the file keeps it; the base puts the kind and version first."""
        raise NotImplementedError

    def file_tensors(self) -> Mapping[str, Any]:
        """The tensors to store, by name."""
        raise NotImplementedError

    @classmethod
    def from_file(cls, path: Path, header: dict[str, Any], tensors: dict, **options: Any) -> Self:
        """The model a read and checked file holds (header validated by the base, tensors finite); checks the
        architecture the header claims against the tensors before building a network of that size."""
        raise NotImplementedError

    def save(self, path: Path) -> Path:
        """Write the model file atomically (a crash never leaves half a file)."""
        return write_model_file(self.file_tensors(), self.file_header(), Path(path), self.file_kind)

    @classmethod
    def load(cls, path: Path, **options: Any) -> Self:
        """Read a model file of this kind; anything else is a UserError of one sentence."""
        path = Path(path)
        header, tensors = read_model_file(path, cls.file_kind)
        return cls.from_file(path, header, tensors, **options)
