"""Process settings from the environment, with the embedded stack's values as defaults.

Secrets (the signer key, the database password inside the DSN, an API key inside the RPC URL)
stay in this object: its repr hides them (`redact_url` for URLs), and nothing here puts them into
a workflow payload or a log line.

Least privilege (issue 13, point 6): only the `chain-tx` role needs the signer key. The `sales`
role reads the chain as the host, which needs only its public address: `SALES_HOST_ADDRESS`, or
the key's address where the key is set anyway (`--role all`, the local stack).
"""

import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from eth_account import Account
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sales.redact import redact_url
from sales.service_api import DEFAULT_CONFIRMATIONS

ENVIRONMENT: dict[str, str] = {
    "temporal_address": "TEMPORAL_ADDRESS",
    "temporal_namespace": "TEMPORAL_NAMESPACE",
    "database_url": "SALES_DATABASE_URL",
    "rpc_url": "SALES_RPC_URL",
    "marketplace_address": "SALES_MARKETPLACE_ADDRESS",
    "signer_key": "SALES_SIGNER_KEY",
    "host_address": "SALES_HOST_ADDRESS",
    "confirmations": "SALES_CONFIRMATIONS",
    "data_url": "SALES_DATA_URL",
    "data_dir": "SALES_DATA_DIR",
    "quota_bytes": "SALES_QUOTA_BYTES",
    "download_batch_bytes": "SALES_DOWNLOAD_BATCH_BYTES",
    "proving_concurrency": "SALES_PROVING_CONCURRENCY",
    "chain_tx_concurrency": "SALES_CHAIN_TX_CONCURRENCY",
    "graceful_shutdown_seconds": "SALES_GRACEFUL_SHUTDOWN",
    "metrics_address": "SALES_METRICS_ADDRESS",
    "max_fee_per_gas": "SALES_MAX_FEE_PER_GAS",
    "deployment_name": "SALES_DEPLOYMENT_NAME",
    "build_id": "SALES_BUILD_ID",
    "api_address": "SALES_API_ADDRESS",
    "api_token": "SALES_API_TOKEN",
}
"""Setting -> the environment variable it is read from."""

ROLE_NEEDS: dict[str, tuple[str, ...]] = {
    # workflows, ledger, chain reads (as the host: mySlots), onStore, the chain follower
    "sales": ("database_url", "rpc_url", "marketplace_address", "host_address", "data_url"),
    "chain-tx": ("rpc_url", "marketplace_address", "signer_key"),
    "proving": ("data_dir",),
    "api": ("database_url",),  # the REST API: the ledger, and Temporal for the sales
}
"""What each worker role cannot start without (and, in deploy/k8s, all the secrets it gets)."""

SECRET_SETTINGS = ("database_url", "rpc_url", "signer_key")
"""Settings that are secrets: the DSN's password, the RPC provider's API key, the signing key."""


class HostSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    database_url: str = ""
    rpc_url: str = "http://127.0.0.1:8545"
    marketplace_address: str = ""
    signer_key: str = ""
    host_address: str = ""
    """The host's public address (SALES_HOST_ADDRESS); derived from the signer key when set."""
    confirmations: int = Field(default=DEFAULT_CONFIRMATIONS, ge=1)
    """Confirmations the chain follower waits for (the service's default)."""
    data_url: str = ""
    data_dir: str = ".stack/host-data"
    quota_bytes: int = 20 * 2**30
    """The host store's size: availabilities draw from it (RES-5) and downloads fill it."""
    download_batch_bytes: int = 1 << 20
    """onStore writes, releases and heartbeats per batch of this size."""
    proving_concurrency: int = 1
    chain_tx_concurrency: int = 1
    graceful_shutdown_seconds: float = 30.0
    metrics_address: str = ""
    deployment_name: str = ""
    """Temporal worker deployment this worker belongs to (worker versioning, deploy/k8s)."""
    build_id: str = ""
    """This worker's version inside the deployment (the image tag); set with deployment_name."""
    max_fee_per_gas: int | None = Field(default=None, gt=0)
    """Wei: no transaction (fee bumps included) offers more; unset means no cap."""
    api_address: str = "127.0.0.1:8080"
    """`host:port` of the sales REST API (the `api` role); loopback unless opened on purpose."""
    api_token: str = ""
    """A secret: when set, every REST call needs `Authorization: Bearer <token>`."""

    @model_validator(mode="before")
    @classmethod
    def _host_from_key(cls, values: Any) -> Any:
        """The host address is the key's when a key is set; a different SALES_HOST_ADDRESS is
        a misconfiguration (reads and transactions would be made as two hosts)."""
        if not isinstance(values, dict) or not values.get("signer_key"):
            return values
        try:
            derived = str(Account.from_key(values["signer_key"]).address)
        except (ValueError, TypeError):
            return values  # not a key: the role that signs refuses it when it starts
        given = values.get("host_address")
        if given and str(given).lower() != derived.lower():
            raise ValueError("SALES_HOST_ADDRESS is not the address of SALES_SIGNER_KEY")
        return {**values, "host_address": derived}

    @model_validator(mode="after")
    def _versioned_together(self) -> "HostSettings":
        if bool(self.deployment_name) != bool(self.build_id):
            raise ValueError(
                "SALES_DEPLOYMENT_NAME and SALES_BUILD_ID are set together or not at all"
            )
        return self

    def __repr__(self) -> str:
        return (
            f"HostSettings(temporal={self.temporal_address!r}, rpc={redact_url(self.rpc_url)!r}, "
            f"marketplace={self.marketplace_address!r}, host={self.host_address!r})"
        )

    __str__ = __repr__

    @property
    def graceful_shutdown(self) -> timedelta:
        return timedelta(seconds=self.graceful_shutdown_seconds)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "HostSettings":
        """TEMPORAL_* and SALES_* variables.

        Without an explicit ``env``, the process environment is read and unset variables fall
        back to the embedded stack's state, so the CLI works right after `stack up`.
        """
        values = {**_stack_environment(), **os.environ} if env is None else dict(env)
        return cls.model_validate(
            {field: values[name] for field, name in ENVIRONMENT.items() if name in values}
        )

    def missing_for(self, roles: Iterable[str]) -> list[str]:
        """The variables these worker roles need that are unset, so a misconfigured pod stops
        at start with all of them named, not at its first activity with one."""
        needed = {field for role in roles for field in ROLE_NEEDS[role]}
        return sorted(ENVIRONMENT[field] for field in needed if not getattr(self, field))


def _stack_environment() -> dict[str, str]:
    from deploy.local.stack import LocalStack

    stack = LocalStack()
    return stack.load().environment() if stack.state_file.exists() else {}


__all__ = ["DEFAULT_CONFIRMATIONS", "ENVIRONMENT", "ROLE_NEEDS", "HostSettings", "redact_url"]
