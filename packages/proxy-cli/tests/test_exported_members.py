import inherence_proxy


def test_the_public_names_are_pinned() -> None:
    assert inherence_proxy.__all__ == ["__version__"]
    assert sorted(inherence_proxy.__all__) == inherence_proxy.__all__
