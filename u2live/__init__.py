"""u2live: real-time background replacement with U2-Net† (Qin et al., Pattern Recognition 2020)."""

__version__ = "0.1.0"
