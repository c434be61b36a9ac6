"""The chain room: the development marketplace contract and everything that talks to a chain."""
