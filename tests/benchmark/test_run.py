"""The benchmark's command line: options are checked before the experiment
folder is opened."""

import pytest

from benchmark import cli, run


def test_bad_policy_options_fail_before_loading(tmp_path, capsys):
    """The command line rejects the option before opening the folder."""
    missing = str(tmp_path / "missing")
    assert run.main([missing, "--policy_thresholds", "entropy=-1"]) == 2
    error = capsys.readouterr().err
    assert "policy_thresholds['entropy']" in error
    assert "not an experiment folder" not in error
    assert run.main([missing, "--policies", "posterior"]) == 2
    assert "policy_decoder" in capsys.readouterr().err
    # with the beam decoder, the same policy passes the checks
    assert run.main([missing, "--policies=posterior", "--policy_decoder=beam"]) == 2
    assert "not an experiment folder" in capsys.readouterr().err


def test_lm_decoder_options_on_the_command_line(tmp_path, capsys):
    missing = str(tmp_path / "missing")
    args = cli.parse_args([missing, "--pyctcdecode=none", "--lm_decoder=speechbrain"])
    options = cli.option_mapping(args)
    assert options["cross_check"] == "none" and options["lm_decoder"] == "speechbrain"
    assert cli.option_mapping(cli.parse_args([missing]))["cross_check"] == "each"
    assert run.main([missing, "--cross_check_decoders=flashlight,sb"]) == 2
    assert "cross_check_decoders: unknown LM decoder(s) ['sb']" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        cli.parse_args([missing, "--lm_decoder=kenlm"])
    assert "invalid choice: 'kenlm'" in capsys.readouterr().err
