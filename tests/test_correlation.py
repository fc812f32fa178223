import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from asvit.cli import main
from asvit.correlation import agreement_table, rank_agreement, read_scores, read_truth, top_k_overlap
from asvit.errors import AsvitError

ACCURACY = [70.0, 72.5, 72.5, 75.0, 61.0, 68.0, 80.0, 77.0]
SCORES = [3.0, 4.0, 4.0, 2.0, 1.0, 3.0, 9.0, 5.0]  # ties in both


def test_kendall_and_spearman_match_scipy_with_ties():
    agreement = rank_agreement(SCORES, ACCURACY, higher_is_better=True, resamples=200)
    assert agreement.kendall_tau == pytest.approx(stats.kendalltau(SCORES, ACCURACY).statistic)
    assert agreement.spearman_rho == pytest.approx(stats.spearmanr(SCORES, ACCURACY).statistic)
    assert agreement.kendall_ci.low <= agreement.kendall_tau <= agreement.kendall_ci.high
    assert agreement.n == len(SCORES)


def test_hand_computed_tau_b():
    # x = (1, 2, 3), y = (1, 3, 2): 2 concordant, 1 discordant pair, no ties: tau = 1/3.
    assert rank_agreement([1, 2, 3], [1, 3, 2], resamples=50).kendall_tau == pytest.approx(1 / 3)


def test_lower_is_better_proxy_is_negated():
    kappa = [10.0, 8.0, 8.0, 3.0, 20.0, 9.0, 1.0, 2.0]
    agreement = rank_agreement(kappa, ACCURACY, higher_is_better=False, resamples=200)
    assert agreement.kendall_tau == pytest.approx(-stats.kendalltau(kappa, ACCURACY).statistic)
    assert agreement.kendall_tau > 0.5


def test_bad_architectures_are_dropped():
    scores = [1.0, math.nan, 3.0, 4.0, 5.0]
    agreement = rank_agreement(scores, [1.0, 2.0, 3.0, 4.0, 5.0], resamples=50)
    assert agreement.n == 4 and agreement.kendall_tau == pytest.approx(1.0)
    with pytest.raises(AsvitError, match="need 3"):
        rank_agreement([1.0, math.nan, math.nan], [1.0, 2.0, 3.0])


def test_top_k_overlap():
    x, y = np.array([5.0, 4.0, 3.0, 2.0, 1.0]), np.array([1.0, 4.0, 5.0, 2.0, 3.0])
    assert top_k_overlap(x, y, 2) == 0.5  # {0, 1} vs {2, 1}
    assert top_k_overlap(x, x, 3) == 1.0


def test_bootstrap_is_seeded():
    a = rank_agreement(SCORES, ACCURACY, resamples=200, seed=3)
    assert a == rank_agreement(SCORES, ACCURACY, resamples=200, seed=3)


@pytest.fixture
def files(tmp_path):
    scores = tmp_path / "scores.csv"
    rows = ["id,arch,params,ntk_cond,bad"] + [f"a{i},x,{s},{10 - s},"
                                              for i, s in enumerate(SCORES)]
    scores.write_text("\n".join(rows) + "\n")
    truth = tmp_path / "truth.jsonl"
    truth.write_text("".join(json.dumps({"id": f"a{i}", "embed_dim": 1, "accuracy": {"top1": a}}) + "\n"
                             for i, a in enumerate(ACCURACY)))
    return scores, truth


def test_agreement_table_matches_by_id_in_each_direction(files):
    scores, truth = files
    table = agreement_table(read_scores(scores), read_truth(truth, "top1"), resamples=100)
    assert set(table) == {"params", "ntk_cond"}
    assert table["params"].kendall_tau == pytest.approx(table["ntk_cond"].kendall_tau)


def test_kendall_cli_on_json_lines_truth(files, tmp_path, capsys):
    scores, truth = files
    out = tmp_path / "kendall.json"
    main(["kendall", "--scores", str(scores), "--truth", str(truth), "--truth-column", "top1",
          "--out", str(out), "--resamples", "100"])
    assert "Kendall tau" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["params"]["kendall_tau"] == pytest.approx(stats.kendalltau(SCORES, ACCURACY).statistic)


def test_kendall_cli_names_a_missing_column(files, capsys):
    scores, truth = files
    with pytest.raises(SystemExit):
        main(["kendall", "--scores", str(scores), "--truth", str(truth), "--truth-column", "top5"])
    assert "no column 'top5'; available: top1, embed_dim" in capsys.readouterr().err


def kendall_error(capsys, *args: str) -> str:
    """The one line ``asvit kendall ARGS`` stops with."""
    with pytest.raises(SystemExit) as stopped:
        main(["kendall", *args])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    return error


def test_a_truth_with_a_repeated_id_is_refused_naming_the_id_and_its_lines(files, tmp_path, capsys):
    scores, truth = files
    truth.write_text(truth.read_text() + json.dumps({"id": "a3", "accuracy": {"top1": 1.0}}) + "\n")
    error = kendall_error(capsys, "--scores", str(scores), "--truth", str(truth), "--truth-column", "top1")
    assert f"{truth}: architecture ids stand more than once: a3 on lines 4, {len(ACCURACY) + 1}" in error
    csv_truth = tmp_path / "truth.csv"
    csv_truth.write_text("id,top1\na0,1\na1,2\na0,3\n")
    with pytest.raises(AsvitError, match="ids stand more than once: a0 on lines 2, 4"):
        read_truth(csv_truth, "top1")
    scores.write_text(scores.read_text() + "a1,x,1,2,\n")
    with pytest.raises(AsvitError, match="ids stand more than once: a1 on lines 3, "):
        read_scores(scores)


def test_accuracies_that_are_not_numbers_are_refused_naming_the_line(tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("id,top1\na0,71.2%\na1,\na2,70.5\n")
    with pytest.raises(AsvitError, match=r"column 'top1' holds values that are not numbers: line 2 \('71.2%'\)"):
        read_truth(truth, "top1")
    truth.write_text("id,top1\na0,71.2\na1,\na2,70.5\n")  # an empty value is a missing one
    assert read_truth(truth, "top1").isna().tolist() == [False, True, False]


def test_the_bootstrap_needs_a_resample(files, capsys):
    scores, truth = files
    error = kendall_error(capsys, "--scores", str(scores), "--truth", str(truth), "--truth-column", "top1",
                          "--resamples", "0")
    assert "resamples = 0: the bootstrap intervals need at least 1 resample" in error


def test_the_ceiling_is_the_tau_of_one_seed_against_another():
    from asvit.correlation import truth_reliability

    per_seed = pd.DataFrame({"val_top1_seed0": [1.0, 2.0, 3.0, 4.0], "val_top1_seed1": [1.0, 3.0, 2.0, 4.0]},
                            index=["a", "b", "c", "d"])
    reliability = truth_reliability(per_seed, top_k=(2,), resamples=20)
    # 6 pairs, one discordant (b, c): tau = (5 - 1) / 6
    assert reliability.seeds == 2 and reliability.ceiling.kendall_tau == pytest.approx(2 / 3)
    # seed means 1, 2.5, 2.5, 4: sample std sqrt(1.5); per-topology stds 0, 0.707, 0.707, 0: rms sqrt(0.25)
    assert reliability.spread == pytest.approx(1.5 ** 0.5) and reliability.seed_noise == pytest.approx(0.5)
    with pytest.raises(AsvitError, match="groundtruth.seeds >= 2"):
        truth_reliability(per_seed[["val_top1_seed0"]])


def test_rank_aggregation_sums_the_log_relative_ranks_of_each_proxy():
    from asvit.predictors import rank_aggregate

    scores = pd.DataFrame({"length_distortion": [3.0, 1.0, 2.0, 9.0, 5.0], "ntk_cond": [10.0, 30.0, 20.0, 20.0, np.nan],
                           "flops": [1.0, 2.0, 3.0, 4.0, 5.0]}, index=list("abcde"))
    # e has no kappa: out. N = 4; L^E ranks (higher better) a 3, b 1, c 2, d 4; kappa (lower better)
    # a 4, b 1, c and d tie at 2.5
    aggregate = rank_aggregate(scores, ["length_distortion", "ntk_cond"])
    expected = {"a": math.log(3 / 4) + math.log(4 / 4), "b": math.log(1 / 4) + math.log(1 / 4),
                "c": math.log(2 / 4) + math.log(2.5 / 4), "d": math.log(4 / 4) + math.log(2.5 / 4)}
    assert aggregate.name == "rank_aggregate" and math.isnan(aggregate["e"])
    assert aggregate.drop("e").to_dict() == pytest.approx(expected)
    with pytest.raises(AsvitError, match="predictor.aggregate: dss not in the score table"):
        rank_aggregate(scores, ["dss"])
    table = agreement_table(scores.join(aggregate), pd.Series([1.0, 0.0, 2.0, 3.0, 4.0], index=list("abcde")),
                            top_k=(2,), resamples=20)
    assert table["rank_aggregate"].n == 4 and table["rank_aggregate"].kendall_tau > 0
