"""HMAC-SHA256 of string columns as native Spark expressions, and redaction of the
secrets it puts into query plans.

``HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m))`` with ``H`` = SHA-256 and a 64-byte block.
The key is the UTF-8 bytes of the salt *string* (the 64 hex characters themselves), hashed
first when longer than the block, then zero-padded. With one salt per partition both padded
keys are constants, computed once on the driver, so the per-row work is two ``sha2`` calls:

    inner = unhex(sha2(concat(K ⊕ ipad, utf8(m)), 256))
    hmac  = upper(sha2(concat(K ⊕ opad, inner), 256))

The result is the 64 upper-case hex characters the reference writes; NULL stays NULL.

Secrecy: ``K ⊕ ipad`` gives the salt back by a XOR, so it is as secret as the salt. Query plans
are printed in analysis errors (which end up in failure reports and emails), in the Spark UI
and by ``explain()``, so the sanitizer never puts the keys into a plan as literals: they come
from a one-row frame (:func:`key_frame`, RDD data, which plans do not print) cross-joined by
broadcast. :func:`hmac_sha256_hex` (literals) exists for notebooks. As a second line,
:func:`register_secret` hands every form of a salt to :mod:`eljobs.secrets`, whose
:func:`~eljobs.secrets.redact` (applied to every error the sanitizer raises) and filter on
PySpark's query context loggers replace them, and any long binary literal, by ``*****``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from eljobs import secrets

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

BLOCK_SIZE = 64


def padded_keys(salt: str) -> tuple[bytes, bytes]:
    """``(K ⊕ ipad, K ⊕ opad)`` for the salt string (RFC 2104 with SHA-256)."""
    key = salt.encode("utf-8")
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_from_padded_keys(col: Column, ipad: Column, opad: Column) -> Column:
    """HMAC-SHA256 upper-case hex of string ``col`` given binary columns ``K ⊕ ipad`` and
    ``K ⊕ opad`` (Column → Column, native expressions only). NULL in, NULL out."""
    # A string cast to binary is its UTF-8 bytes (Spark strings are UTF-8 internally).
    inner = F.unhex(F.sha2(F.concat(ipad, col.cast("binary")), 256))
    return F.upper(F.sha2(F.concat(opad, inner), 256))


def hmac_sha256_hex(col: Column, salt: str) -> Column:
    """The upper-case hex HMAC-SHA256 of the string column ``col`` keyed by ``salt``.

    Column → Column for notebooks: the padded keys are binary literals, so the plan of the
    result holds them (see the module docstring); the sanitizer uses :func:`key_frame` instead.
    """
    register_secret(salt)
    ipad, opad = padded_keys(salt)
    return hmac_from_padded_keys(col, F.lit(bytearray(ipad)), F.lit(bytearray(opad)))


def key_frame(spark: SparkSession, salt: str) -> tuple[DataFrame, str, str]:
    """A one-row frame holding ``K ⊕ ipad`` and ``K ⊕ opad`` as binary columns, and their
    (unique) column names.

    The row travels as RDD data, which query plans never print, so a frame that is
    cross-joined with it (a broadcast of one row, code-generated) computes the HMAC without
    the key ever appearing in a plan, an analysis error or the Spark UI.
    """
    register_secret(salt)
    ipad, opad = padded_keys(salt)
    tag = uuid.uuid4().hex[:12]
    names = (f"__eljobs_k_i_{tag}", f"__eljobs_k_o_{tag}")
    rdd = spark.sparkContext.parallelize([(bytearray(ipad), bytearray(opad))], 1)
    frame = spark.createDataFrame(rdd, f"{names[0]} binary, {names[1]} binary")
    return frame, names[0], names[1]


def hmac_sha256_hex_py(salt: str, value: str) -> str:
    """Reference HMAC in Python (tests, notebooks): the same output as the Spark expression."""
    return hmac.new(salt.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest().upper()


# --------------------------------------------------------------------------------------------
# The salt's forms, for the redaction in eljobs.secrets


def secret_forms(salt: str) -> list[str]:
    """Every text form in which a salt or its padded keys can show up in messages and plans."""
    ipad, opad = padded_keys(salt)
    forms = {salt}
    for b in (ipad, opad, salt.encode("utf-8")):
        forms.add(b.hex())
        forms.add(b.hex().upper())
        # Trailing zero padding makes the padded keys end in runs of 36/5C; the distinctive
        # prefix (the key bytes) is enough to recognize a partial rendering.
        forms.add(b.hex()[: 2 * min(len(salt), BLOCK_SIZE)].upper())
        forms.add(b.hex()[: 2 * min(len(salt), BLOCK_SIZE)])
    return sorted((f for f in forms if len(f) >= 8), key=len, reverse=True)


def register_secret(salt: str) -> None:
    """Register ``salt`` and its padded keys with :func:`eljobs.secrets.register`, so that
    :func:`eljobs.secrets.redact` and the log filter hide them."""
    secrets.register(secret_forms(salt))
