"""The chain room: the development marketplace contract, its build, deployment and adapters."""
