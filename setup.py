from setuptools import find_packages, setup
setup(name="mask2former", version="0.1.0", packages=find_packages(include=["mask2former*"]))
