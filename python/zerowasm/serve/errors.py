"""OpenAI-style errors: every failure the server answers is one JSON object

    {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}

with the HTTP status the official clients map onto their exception classes
(400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError,
422 UnprocessableEntityError, 429 RateLimitError, 5xx InternalServerError / APIStatusError).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error", 413: "invalid_request_error",
    422: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 503: "server_error",
    504: "timeout_error",
}


class APIError(Exception):
    """An error the server answers as an OpenAI error object."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, code=self.code, param=self.param)


def error_body(status: int, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error" if status >= 500
                                                                   else "invalid_request_error"),
                      "param": param, "code": code}}


def error_response(err: APIError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = "not_found" if exc.status_code == 404 else None
    return JSONResponse(error_body(exc.status_code, str(exc.detail), code=code), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Malformed JSON is a 400; a well-formed body with wrong types or missing fields a 422."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    param = ".".join(loc) or None
    if first.get("type") == "json_invalid":
        return JSONResponse(error_body(400, f"the request body is not valid JSON: {first.get('msg', '')}",
                                       code="invalid_json"), status_code=400)
    message = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'body') or 'body'}: {e.get('msg')}"
                        for e in errors[:5])
    return JSONResponse(error_body(422, message, code="invalid_type", param=param), status_code=422)
