"""Access tokens: checked once, then known by their text, but never past their expiry."""

import time

import jwt
import pytest

from dispatchwire.auth.security import ALGORITHM, Tokens
from dispatchwire.errors import Unauthorized

SECRET = "s" * 48


def test_a_known_token_is_still_refused_once_it_expires() -> None:
    tokens = Tokens(secret=SECRET, ttl_s=1)
    token = tokens.issue(user_id=7, role="client")
    assert tokens.user_id(token) == 7  # checked and kept
    expires_at = tokens.expires_at(token)
    time.sleep(max(0.0, expires_at - time.time()) + 0.01)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.user_id(token)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.expires_at(token)


def test_a_token_altered_after_a_valid_one_was_kept_is_refused() -> None:
    tokens = Tokens(secret=SECRET, ttl_s=60)
    token = tokens.issue(user_id=7, role="client")
    assert tokens.user_id(token) == 7
    header, _, signature = token.split(".")
    forged = jwt.encode({"sub": "8", "exp": int(time.time()) + 60}, "guessed-" + "x" * 40,
                        algorithm=ALGORITHM)
    for bad in (f"{header}.{forged.split('.')[1]}.{signature}", token + "x", token[:-1],
                forged):
        with pytest.raises(Unauthorized, match="invalid"):
            tokens.user_id(bad)
    assert tokens.user_id(token) == 7


def test_tokens_from_another_secret_or_without_a_user_are_refused() -> None:
    tokens = Tokens(secret=SECRET, ttl_s=60)
    other = Tokens(secret="t" * 48, ttl_s=60).issue(user_id=7, role="client")
    no_user = jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm=ALGORITHM)
    bad_user = jwt.encode({"sub": "0", "exp": int(time.time()) + 60}, SECRET,
                          algorithm=ALGORITHM)
    for bad in (other, no_user, bad_user):
        with pytest.raises(Unauthorized, match="invalid"):
            tokens.user_id(bad)


def test_the_tokens_kept_are_bounded() -> None:
    tokens = Tokens(secret=SECRET, ttl_s=60)
    tokens.CACHED = 3
    issued = [tokens.issue(user_id=n, role="client") for n in range(1, 6)]
    assert [tokens.user_id(token) for token in issued] == [1, 2, 3, 4, 5]
    assert len(tokens._checked) == 3
    assert tokens.user_id(issued[0]) == 1  # checked again, not lost
