"""The Zarr layout of an ensemble store, and writing, checking and reading its chunks.

Layout (Zarr v3, readable by ``xarray.open_zarr``)::

    <species>, <observable>   (setting?, trajectory, time)  int64 / float64,
                              one Zarr chunk per ensemble chunk of trajectories
    <species>_mean/_var/_sd   (setting?, time)  float64, for reduce="moments"
    time, trajectory, setting and the swept names as coordinates
    _pycrn/commit             (chunks, 4) int64, one row per ensemble chunk:
                              done flag, checksum (CRC-32 of the data), the two work counters
    _pycrn/sums               (chunks, 4, species, time) int64: the exact sums of
                              reduce="moments" as limbs (s1 hi, s1 lo, s2 hi, s2 lo)

Every array is chunked so that ensemble chunk ``c`` owns its own Zarr chunk
files: the task that computed it writes them and no two writers ever touch
one file. A task writes its data, then its commit row, which alone marks it
done: a run killed at any point leaves chunks that are either committed with
their data complete, or not committed and recomputed on resume. Data chunks
are compressed with Blosc (LZ4 with byte shuffle: counts compress well, and
LZ4 keeps up with the engines) and carry a CRC32C, so a damaged chunk fails
to read instead of returning wrong numbers; the checksum in the commit row
also catches a chunk file that went missing (Zarr would read it as zeros).
"""

from __future__ import annotations

import json
import threading
import uuid
import zlib
from pathlib import Path

import numpy as np

BOOKKEEPING = "_pycrn"
FINGERPRINT = "pycrn_ensemble"
STORE_ID = "pycrn_store_id"
ORDER = "pycrn_variables"
SUM_NAMES = ("s1_hi", "s1_lo", "s2_hi", "s2_lo")


def _zarr():
    try:
        import zarr
    except ImportError:  # pragma: no cover - the dask extra installs it
        raise ImportError("ensemble(store=...) needs zarr >= 3: pip install 'pycrn[dask]'") from None
    return zarr


def _compressors():
    from zarr.codecs import BloscCodec, Crc32cCodec

    return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"), Crc32cCodec()]


def exists(path: str | Path) -> bool:
    """Whether ``path`` holds a Zarr group."""
    return (Path(path) / "zarr.json").exists()


def checksum(arrays: list[np.ndarray]) -> int:
    """CRC-32 of the arrays' bytes, in order.

    It guards against damaged and missing chunks, not against tampering: a
    cryptographic hash (BLAKE2b) cost 15% of the simulation time of an SIR
    chunk, zlib's CRC-32 under 4%.
    """
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a), crc)
    return crc


def read_fingerprint(path: str | Path) -> dict:
    """The arguments a store was created with."""
    group = _zarr().open_group(str(path), mode="r")
    text = group.attrs.get(FINGERPRINT)
    if text is None:
        raise ValueError(f"{path} is a Zarr store but not a pycrn ensemble store")
    return json.loads(text)


class EnsembleStore:
    """An open ensemble store (see the module docstring); get one with :func:`attach` or :meth:`create`."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.group = _zarr().open_group(self.path, mode="r+")
        self.id = self.group.attrs.get(STORE_ID)
        self.book = self.group[BOOKKEEPING]
        self._arrays: dict[str, object] = {}

    @classmethod
    def create(
        cls,
        path: str | Path,
        layout: dict,
        coords: dict[str, tuple[tuple[str, ...], np.ndarray]],
        attrs: dict,
        fingerprint: dict,
    ) -> EnsembleStore:
        """Write an empty store (metadata, coordinates, bookkeeping) for ``layout``.

        ``layout`` has ``variables`` (name -> dtype), ``shape``, ``dims`` and
        ``chunk_shape`` of the trajectory variables, ``nchunks``,
        ``species``, ``ntimes`` and ``reduce``.
        """
        zarr = _zarr()
        order = list(layout["variables"]) if layout["reduce"] is None else []
        meta = {**attrs, FINGERPRINT: json.dumps(fingerprint), STORE_ID: uuid.uuid4().hex, ORDER: order}
        group = zarr.open_group(str(path), mode="w", attributes=meta)
        config = {"write_empty_chunks": True}
        for name, (dims, data) in coords.items():
            arr = group.create_array(name, shape=data.shape, chunks=data.shape or (1,), dtype=data.dtype,
                                     dimension_names=dims, fill_value=0)
            arr[...] = data
        if layout["reduce"] is None:
            for name, dtype in layout["variables"].items():
                group.create_array(
                    name, shape=layout["shape"], chunks=layout["chunk_shape"], dtype=dtype, fill_value=0,
                    compressors=_compressors(), dimension_names=layout["dims"], config=config,
                )
        book = group.create_group(BOOKKEEPING)
        nchunks = layout["nchunks"]
        book.create_array("commit", shape=(nchunks, 4), chunks=(1, 4), dtype="int64", fill_value=0,
                          compressors=_compressors(), config=config)
        if layout["reduce"] is not None:
            shape = (nchunks, len(SUM_NAMES), layout["species"], layout["ntimes"])
            book.create_array("sums", shape=shape, chunks=(1, *shape[1:]), dtype="int64", fill_value=0,
                              compressors=_compressors(), config=config)
        return cls(path)

    def _array(self, name: str):
        arr = self._arrays.get(name)
        if arr is None:
            arr = self.book[name[1:]] if name.startswith("/") else self.group[name]
            self._arrays[name] = arr
        return arr

    # Writing (the task that computed a chunk) -------------------------------------------------

    def write_chunk(self, index: int, region: tuple, data: dict[str, np.ndarray], steps: np.ndarray) -> None:
        """Write ensemble chunk ``index``: its variables at ``region``, then its commit row."""
        for name, values in data.items():
            self._array(name)[region] = values
        self._commit(index, checksum([data[name] for name in sorted(data)]), steps)

    def write_sums(self, index: int, sums: dict[str, np.ndarray], steps: np.ndarray) -> None:
        """Write the exact sums of ensemble chunk ``index`` (reduce="moments"), then its commit row."""
        block = np.stack([np.asarray(sums[k]).view(np.int64) for k in SUM_NAMES])
        self._array("/sums")[index] = block
        self._commit(index, checksum([block]), steps)

    def _commit(self, index: int, digest: int, steps: np.ndarray) -> None:
        steps = np.asarray(steps, dtype=np.int64)
        self._array("/commit")[index] = np.array([1, digest, steps[0], steps[1]], dtype=np.int64)

    # Reading and checking (the caller of ensemble) ------------------------------------------------

    def commits(self) -> np.ndarray:
        """All commit rows; a row that cannot be read counts as not committed (zeros)."""
        arr = self._array("/commit")
        try:
            return arr[:]
        except Exception:  # noqa: BLE001 - a damaged row fails in the codec, whatever its error type
            rows = np.zeros(arr.shape, dtype=np.int64)
            for i in range(arr.shape[0]):
                try:
                    rows[i] = arr[i]
                except Exception:  # noqa: BLE001
                    pass
            return rows

    def verify(self, index: int, region: tuple, names: list[str], reduce: str | None, digest: int) -> bool:
        """Whether chunk ``index`` reads back complete and unchanged (CRC and checksum)."""
        try:
            if reduce is None:
                arrays = [self._array(name)[region] for name in sorted(names)]
            else:
                arrays = [self._array("/sums")[index]]
        except Exception:  # noqa: BLE001 - a damaged chunk fails in the codec, whatever its error type
            return False
        return checksum(arrays) == digest

    def uncommit(self, index: int) -> None:
        """Clear chunk ``index``'s commit row so that it is recomputed."""
        self._array("/commit")[index] = np.zeros(4, dtype=np.int64)

    def sums(self) -> dict[str, np.ndarray]:
        """The exact sums of all chunks, (chunks, species, time) per limb."""
        block = self._array("/sums")[:]
        return {k: block[:, i].view(np.uint64) if k.endswith("_lo") else block[:, i] for i, k in enumerate(SUM_NAMES)}

    def record(self, attrs: dict) -> None:
        """Add attributes to the store's root (the work counters, once every chunk is in)."""
        self.group.attrs.update(attrs)

    def write_summary(self, variables: dict[str, tuple[tuple[str, ...], np.ndarray]]) -> None:
        """Write the reduced variables (``<species>_mean``, ...) into the store's root."""
        for name, (dims, values) in variables.items():
            if name in self.group:
                del self.group[name]
            arr = self.group.create_array(name, shape=values.shape, chunks=values.shape or (1,),
                                          dtype=values.dtype, dimension_names=dims, fill_value=np.nan)
            arr[...] = values
        self.group.attrs[ORDER] = list(variables)


_attached: dict[tuple[str, str], EnsembleStore] = {}
_lock = threading.Lock()


def attach(path: str, store_id: str) -> EnsembleStore:
    """The process's open handle of the store at ``path`` created as ``store_id``.

    Handles are cached per process (a Dask worker opens a store once, not
    once per task); the id makes sure a store re-created at the same path
    is never written through a stale handle.
    """
    key = (path, store_id)
    with _lock:
        handle = _attached.get(key)
        if handle is None:
            handle = EnsembleStore(path)
            if handle.id != store_id:
                raise RuntimeError(f"the store at {path} was replaced while the ensemble was running")
            _attached[key] = handle
        return handle


def open_dataset(path: str | Path):
    """The store as a lazily loaded (dask-backed) xarray Dataset, the swept values as coordinates."""
    import xarray as xr

    ds = xr.open_zarr(str(path), consolidated=False)
    ds.attrs.pop(FINGERPRINT, None)
    ds.attrs.pop(STORE_ID, None)
    # Zarr lists arrays in no particular order: restore the network's.
    order = [name for name in ds.attrs.pop(ORDER, []) if name in ds.data_vars]
    ds = ds[order + [name for name in ds.data_vars if name not in order]]
    swept = [name for name in ds.data_vars if ds.variables[name].dims == ("setting",)]
    return ds.set_coords(swept) if swept else ds
