"""Azure SDK errors as one readable UserError line naming the operation."""

from __future__ import annotations

import contextlib
from typing import Iterator

from sensor_pipelines.core.errors import UserError

SIGN_IN_HINT = "sign in with `az login` or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET"


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (Azure messages run long)."""
    text = str(getattr(exc, "message", None) or exc)
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line or type(exc).__name__


def azure_error(operation: str, exc: BaseException) -> UserError:
    """The UserError for an Azure SDK failure during ``operation``."""
    from azure.core.exceptions import ClientAuthenticationError

    message = f"Azure ML {operation} failed: {first_line(exc)}"
    if isinstance(exc, ClientAuthenticationError):
        message += f"; {SIGN_IN_HINT}"
    return UserError(message)


@contextlib.contextmanager
def azure_call(operation: str) -> Iterator[None]:
    """Turn any Azure SDK error (credentials, HTTP, validation) inside the block into a UserError."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise azure_error(operation, exc) from exc
