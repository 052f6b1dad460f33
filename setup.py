"""Install dfshield: ``pip install -e .[dev]`` (see README.md for the two set-up commands)."""

from glob import glob

from setuptools import find_namespace_packages, setup

setup(
    name="dfshield",
    version="0.1.0",
    description="Imbalance-robust deepfake detectors for DeepfakeBench-format data",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_namespace_packages(include=["dfshield", "dfshield.*"]),
    include_package_data=True,
    package_data={"dfshield": ["detectors/model_configs/*.json"]},
    data_files=[("share/dfshield/configs", ["configs/protocol.yaml", "configs/demo.yaml"]),
                ("share/dfshield/configs/detectors", glob("configs/detectors/*.yaml")),
                ("share/dfshield/configs/ablation", glob("configs/ablation/*.yaml"))],
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "numpy>=1.23",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "lmdb>=1.4",
        "opencv-python-headless>=4.8,<5",
        "albumentations>=2.0,<3",
        "scikit-learn>=1.2",
        "matplotlib>=3.6",
        "open_clip_torch>=2.24",
        "timm>=0.9",
    ],
    extras_require={
        "dev": ["pytest>=7.4", "pytest-timeout>=2.2"],
        "tensorboard": ["tensorboard>=2.14"],
        "mtcnn": ["facenet-pytorch>=2.5"],
    },
    entry_points={"console_scripts": ["dfshield=dfshield.cli:main"]},
)
