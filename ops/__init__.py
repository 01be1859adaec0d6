"""Operations tooling for a deployed (or local) bridge; never shipped to Lambda."""
