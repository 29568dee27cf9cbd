"""The commands behind the scripts users type (``train_net.py``, ``train_net_video.py``): each
module has the script's ``main`` and ``cli``, so that the scripts stay thin entry points and
other code imports the commands from the installed package rather than from a script."""
