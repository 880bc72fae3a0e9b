"""The benchmark's command line: options are checked before the experiment
folder is opened."""

from benchmark import run


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
