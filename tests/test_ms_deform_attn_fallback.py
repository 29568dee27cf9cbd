"""`import mask2former` without the compiled library: in a fresh interpreter where
`mask2former._C` cannot be imported (as if it had never been built, or a stale .so failed to
load), the package imports, warns exactly once with the build command, and deformable attention
(and a whole model) runs on the pure-PyTorch reference."""

import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Blocks `mask2former._C` with a meta-path finder installed before anything imports it.
_PRELUDE = textwrap.dedent(
    """
    import importlib.abc, sys, warnings

    class _Missing(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "mask2former._C":
                raise {error}("simulated: mask2former._C is not built")
            return None

    sys.meta_path.insert(0, _Missing())
    warnings.simplefilter("always")
    """
)

_BODY = textwrap.dedent(
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import mask2former  # noqa: F401
        import mask2former.layers
        import mask2former.export  # noqa: F401
        import torch
        from mask2former.layers import (
            compiled_op_available, ms_deform_attn, ms_deform_attn_reference,
        )
        from mask2former.layers._ops import load_compiled_ops  # noqa: F401
        assert not compiled_op_available("cpu")
        shapes = torch.tensor([[3, 5], [2, 2]])
        starts = torch.tensor([0, 15])
        value = torch.randn(2, 19, 2, 4, dtype=torch.float64, requires_grad=True)
        loc = torch.rand(2, 3, 2, 2, 2, 2, dtype=torch.float64) * 1.4 - 0.2
        weights = torch.rand(2, 3, 2, 2, 2, dtype=torch.float64)
        out = ms_deform_attn(value, shapes, starts, loc, weights)
        torch.testing.assert_close(out, ms_deform_attn_reference(value, shapes, starts, loc, weights))
        out.sum().backward()
        assert value.grad is not None
    mine = [w for w in caught if "mask2former._C" in str(w.message)]
    print("WARNINGS", len(mine))
    for w in mine:
        print("MESSAGE", w.category.__name__, str(w.message).replace("\\n", " "))
    """
)


@pytest.mark.parametrize("error", ["ImportError", "OSError"], ids=["not-built", "cannot-load"])
def test_import_without_compiled_library_warns_once_and_uses_reference(error):
    code = _PRELUDE.format(error=error) + _BODY
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("MASK2FORMER_DISABLE_CUSTOM_OPS", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "WARNINGS 1" in result.stdout, log
    message = next(line for line in result.stdout.splitlines() if line.startswith("MESSAGE"))
    assert message.startswith("MESSAGE UserWarning"), message
    assert "simulated: mask2former._C is not built" in message  # says why
    assert "pure-PyTorch reference" in message  # says what happens instead
    assert "pip install --no-build-isolation -e ." in message  # says how to fix it
