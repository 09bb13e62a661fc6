"""Request bodies of the OpenAI-compatible endpoints (pydantic; unknown fields are ignored,
as the OpenAI API's clients send fields this server has no use for).

pydantic evaluates these annotations at run time, and Python 3.9 has no ``X | Y``: hence
typing's Optional/Union/List here."""
# ruff: noqa: UP006, UP007, UP035, UP045

from __future__ import annotations

from typing import Any, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr
    input: Union[StrictStr, List[StrictStr], List[StrictInt], List[List[StrictInt]]]
    encoding_format: Optional[StrictStr] = "float"
    dimensions: Optional[StrictInt] = None
    user: Optional[StrictStr] = None


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: StrictStr
    text: Optional[StrictStr] = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: StrictStr
    content: Union[StrictStr, List[ContentPart], None] = None
    name: Optional[StrictStr] = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: Optional[bool] = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr
    messages: List[ChatMessage]
    max_tokens: Optional[StrictInt] = None
    max_completion_tokens: Optional[StrictInt] = None
    temperature: Optional[Union[StrictFloat, StrictInt]] = None
    top_p: Optional[Union[StrictFloat, StrictInt]] = None
    seed: Optional[StrictInt] = None
    stop: Union[StrictStr, List[StrictStr], None] = None
    stream: Optional[bool] = False
    stream_options: Optional[StreamOptions] = None
    n: Optional[StrictInt] = None
    user: Optional[StrictStr] = None
    tools: Optional[List[Any]] = Field(default=None)


class LoadVersionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guest: Optional[StrictStr] = None  # path on the server (default: the bundled guest)
    weights: Optional[StrictStr] = None  # path on the server (default: the downloaded weights)
    activate: bool = False


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: StrictStr
