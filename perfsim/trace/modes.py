"""The torch-function modes the tracer runs a step under, on one base.

Each mode answers some calls itself, the way CUDA or autocast would run them
(`perfsim.trace.dropout`, `perfsim.trace.softmax`, `perfsim.trace.autocast`), and passes
every other call on unchanged.
"""

from __future__ import annotations

from typing import Any, Final

from torch.overrides import TorchFunctionMode

# what `CallRewrite.rewrite` returns for a call it leaves alone
PASS: Final = object()


class CallRewrite(TorchFunctionMode):
    """A torch-function mode whose `rewrite` may answer a call; `PASS` runs it as called."""

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        answer = self.rewrite(func, args, kwargs)
        return func(*args, **kwargs) if answer is PASS else answer

    def rewrite(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The call's result, or `PASS` to run it unchanged."""
        return PASS
