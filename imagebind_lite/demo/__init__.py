"""``imagebind-lite demo``: emergent audio-text alignment from scratch on the synthetic world."""
from imagebind_lite.demo.config import DemoConfig
from imagebind_lite.demo.runner import run_demo

__all__ = ["DemoConfig", "run_demo"]
