"""Type strings (``int``, ``list[str]``, ``optional[float]``, ``dict[str, int]``, ``any``) and
whether a value of one type may be bound to an input of another."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def parse_type(text: str) -> tuple[str, tuple[str, ...]]:
    """``"dict[str, list[int]]"`` -> ``("dict", ("str", "list[int]"))``."""
    head, bracket, rest = text.partition("[")
    if not bracket:
        return text.strip(), ()
    body = rest[: rest.rindex("]")]
    args, depth, start = [], 0, 0
    for i, char in enumerate(body):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            args.append(body[start:i].strip())
            start = i + 1
    args.append(body[start:].strip())
    return head.strip(), tuple(args)


@lru_cache(maxsize=4096)
def is_assignable(source: str, target: str) -> bool:
    """May a value of type ``source`` flow into an input of type ``target``?"""
    if source == target or "any" in (source, target):
        return True
    src, src_args = parse_type(source)
    dst, dst_args = parse_type(target)
    if dst == "optional":
        if src == "none":
            return True
        inner = src_args[0] if src == "optional" else source
        return is_assignable(inner, dst_args[0])
    if (src, dst) == ("int", "float"):
        return True
    if src != dst or len(src_args) != len(dst_args):
        return False
    return all(is_assignable(s, d) for s, d in zip(src_args, dst_args, strict=True))


def element_type(list_type: str) -> str | None:
    head, args = parse_type(list_type)
    return args[0] if head == "list" and args else None
