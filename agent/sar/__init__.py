"""SAR and portability packages: the zip a person receives for an access request."""

from agent.sar.cover import PackageError
from agent.sar.package import build_package, encrypt_age, encrypt_zip

__all__ = ["PackageError", "build_package", "encrypt_age", "encrypt_zip"]
