from wristband_mw import ErrorCode


def test_local_issuer_token_validates(local_issuer):
    validator = local_issuer.validator()
    result = validator.validate(local_issuer.mint(sub="user-1"))
    assert result.is_valid and result.payload.sub == "user-1"
    assert validator.validate(local_issuer.mint(exp_in=-5)).error is ErrorCode.EXPIRED
