"""Reading documents back in tests: PDF text with poppler, barcodes with zbar (Debian packages)."""

import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader

PACKAGES = {"pdftotext": "poppler-utils", "pdftoppm": "poppler-utils", "zbarimg": "zbar-tools"}


def run(tool: str, *args: str, check: bool = True) -> str:
    """A Debian tool's standard output; the arguments are our own temporary paths and options."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"needs {tool} (Debian {PACKAGES[tool]})")
    done = subprocess.run([path, *args], capture_output=True, text=True, check=check)  # noqa: S603
    return done.stdout


def pdf_text(pdf: bytes, tmp_path, page: int | None = None) -> str:
    """pdftotext -layout of the whole document, or of one page (1-based)."""
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return run("pdftotext", "-layout", *pages, str(path), "-")


def barcodes_by_page(pdf: bytes, tmp_path) -> list[list[str]]:
    """Each page rendered at 300 dpi and decoded by zbarimg: the values found, page by page."""
    path = tmp_path / "labels.pdf"
    path.write_bytes(pdf)
    run("pdftoppm", "-r", "300", "-png", str(path), str(tmp_path / "page"))
    pages = []
    for image in sorted(tmp_path.glob("page-*.png")):
        # zbarimg exits 4 when it finds no barcode: that is an empty page here, not an error
        pages.append([line for line in run("zbarimg", "--raw", "-q", str(image), check=False).splitlines() if line])
    return pages


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)
