"""train_net_video.py and its trainer: a short training run on generated videos ends with a
video AP evaluation (clip-wise) and a results file; the command line is train_net.py's."""

import pytest

from helpers.training import eval_only_args, launcher_args, stub_evaluation
from helpers.video import QUICKSTART_VIDEO, load_video_cfg
from mask2former.errors import UserError
from mask2former.video.trainer import VideoTrainer

TINY_VIDEO_OPTS = [
    "SOLVER.IMS_PER_BATCH",
    "2",
    "SOLVER.MAX_ITER",
    "2",
    "SOLVER.WARMUP_ITERS",
    "1",
    "INPUT.MIN_SIZE_TRAIN",
    "(64,)",
    "INPUT.MAX_SIZE_TRAIN",
    "128",
    "INPUT.MIN_SIZE_TEST",
    "64",
    "INPUT.MAX_SIZE_TEST",
    "128",
    "MODEL.MASK_FORMER.DEC_LAYERS",
    "2",
    "MODEL.MASK_FORMER.TRAIN_NUM_POINTS",
    "256",
    "MODEL.MASK_FORMER.TEST.CLIP_LENGTH",
    "4",
    "MODEL.MASK_FORMER.TEST.CLIP_OVERLAP",
    "1",
    "DATALOADER.NUM_WORKERS",
    "0",
]


@pytest.mark.slow
def test_train_then_evaluate_video_ap(shapes_videos, tmp_path):
    cfg = load_video_cfg(QUICKSTART_VIDEO, TINY_VIDEO_OPTS + ["OUTPUT_DIR", str(tmp_path)])
    trainer = VideoTrainer(cfg)
    trainer.resume_or_load(resume=False)
    results = trainer.train()
    assert {"AP", "AP50", "AP75", "APs", "AR1", "AR10", "AP-circle"} <= set(results["segm"])
    assert (tmp_path / "model_final.pth").is_file()
    assert (tmp_path / "inference" / "results.json").is_file()


@pytest.fixture
def train_net_video():
    """The commands behind train_net.py and train_net_video.py (which only call their ``cli``)."""
    from mask2former.commands import train_net, train_net_video

    return train_net, train_net_video


@pytest.mark.usefixtures("shapes_videos")  # the quickstart config's datasets
def test_flags_reach_the_launcher(train_net_video, monkeypatch):
    train_net, video = train_net_video
    calls = []
    monkeypatch.setattr(train_net, "launch", lambda *a, **k: calls.append((a, k)))
    video.cli(launcher_args(QUICKSTART_VIDEO))
    ((args, kwargs),) = calls
    assert args[0] is video.main and args[1] == 2
    assert args[0].keywords["trainer_class"] is VideoTrainer
    assert kwargs["num_machines"] == 3 and kwargs["machine_rank"] == 1
    (parsed,) = kwargs["args"]
    assert parsed.resume and parsed.opts == ["SOLVER.MAX_ITER", "7"]


@pytest.mark.usefixtures("shapes_videos")  # the quickstart config's datasets
def test_eval_only_uses_the_video_trainer_and_keys(train_net_video, monkeypatch, tmp_path):
    _, video = train_net_video
    seen = stub_evaluation(monkeypatch, VideoTrainer, {"segm": {"AP": 1.0}})
    video.cli(
        eval_only_args(QUICKSTART_VIDEO, tmp_path, "MODEL.MASK_FORMER.TEST.CLIP_LENGTH", "12")
    )
    assert seen["cfg"].MODEL.MASK_FORMER.TEST.CLIP_LENGTH == 12 and seen["cfg"].is_frozen()


def test_test_time_augmentation_is_refused():
    with pytest.raises(UserError, match="TEST.AUG.ENABLED"):
        VideoTrainer.test_with_TTA(None, None)
