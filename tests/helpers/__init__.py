"""What more than one test module uses, by topic; test modules import from here and never
from each other, and conftest.py holds only pytest fixtures and hooks.

- paths: where the repository, its configs and the tiny test configs are
- configs: loading a config file; the tiny configs of tests/configs/ (their one source)
- backbones: ResNet and Swin backbone configs, a tiny Swin
- checkpoints: the published checkpoints' key lists of tests/data/checkpoint_keys/
- sampling: a torch.rand stand-in that makes point sampling read exact pixels
- training: synthetic batches, a generated shapes dataset, a short training run's overrides,
  train_net.py's command lines and a stubbed evaluation
- video: the tiny video config and synthetic clips
- ops: skip markers for the compiled operators' tests
- scripts: importing a script of tools/, demo/ or datasets/ as a module; a size-sweep
  benchmark's table rows; export_model.py's arguments
"""
