"""Images from tools into the object store, and back into requests for the model.

The transcript and checkpoints only ever hold `ImageBlock(ref=...)`; the bytes are put in the
object store in the act step (before its output is recorded, so a replay never stores twice
under a different name: the reference is the content's hash) and read back only for images
still in the recent part of the conversation when a request is built.
"""

from __future__ import annotations

import base64

import structlog

from cofounder.engine.runtime import Runtime
from cofounder.events import Screenshot, ScreenshotTaken
from cofounder.llm.messages import ContentBlock, ImageBlock, Message, TextBlock, ToolUseBlock
from cofounder.storage.images import ImageStoreError
from cofounder.tools import ImageRef, ToolImage, ToolResult

log = structlog.get_logger(__name__)


def store_images(
    rt: Runtime,
    session_id: str,
    iteration: int,
    call: ToolUseBlock,
    images: list[ToolImage],
    result: ToolResult,
) -> ToolResult:
    """The result with its images stored by reference (or failed, saying why)."""
    refs: list[ImageRef] = []
    try:
        for image in images:
            ref = rt.images.put(image.data)
            refs.append(
                ImageRef(
                    ref=ref,
                    media_type=image.media_type,
                    label=image.label,
                    width=image.width,
                    height=image.height,
                )
            )
    except ImageStoreError as exc:
        log.warning("image_not_stored", session_id=session_id, error=str(exc))
        return result.model_copy(
            update={"ok": False, "content": f"The images could not be stored: {exc}"}
        )
    rt.events.append(
        session_id,
        ScreenshotTaken(
            iteration=iteration,
            tool_use_id=call.id,
            path=str(call.input.get("path") or "/"),
            screenshots=[
                Screenshot(
                    viewport=r.label.split(" ")[0],
                    width=r.width,
                    height=r.height,
                    ref=r.ref,
                    bytes=len(i.data),
                )
                for r, i in zip(refs, images, strict=True)
            ],
        ),
    )
    return result.model_copy(update={"images": refs})


def image_blocks(result: ToolResult) -> list[ContentBlock]:
    """A result's images as they follow the tool results in the conversation: a caption
    naming each, then the image (by reference)."""
    blocks: list[ContentBlock] = []
    for image in result.images:
        blocks.append(TextBlock(text=f"[{image.label} screenshot]"))
        blocks.append(ImageBlock(media_type=image.media_type, ref=image.ref))
    return blocks


def with_image_data(rt: Runtime, messages: list[Message]) -> list[Message]:
    """Fill in the bytes of every image still in the request; one that cannot be read
    becomes a note (the request must still go out)."""
    out: list[Message] = []
    for message in messages:
        if not any(isinstance(b, ImageBlock) and b.data is None for b in message.content):
            out.append(message)
            continue
        blocks: list[ContentBlock] = []
        for block in message.content:
            if isinstance(block, ImageBlock) and block.data is None and block.ref:
                try:
                    data = base64.b64encode(rt.images.get(block.ref)).decode("ascii")
                    blocks.append(block.model_copy(update={"data": data}))
                except ImageStoreError as exc:
                    log.warning("image_unreadable", ref=block.ref, error=str(exc))
                    blocks.append(TextBlock(text=f"[image {block.ref} unavailable: {exc}]"))
            else:
                blocks.append(block)
        out.append(message.model_copy(update={"content": blocks}))
    return out
