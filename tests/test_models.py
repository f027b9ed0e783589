"""The model zoo: every registered model builds, runs, and its hand arithmetic equals Keras's count."""

import numpy as np
import pytest

from ex1 import models


@pytest.mark.parametrize("name", models.list_models())
def test_every_model_builds_and_its_parameter_table_matches_keras(name):
    model = models.create_model(name)
    table = models.param_table(model)
    assert int(table["params"].sum()) == model.count_params()
    x = np.zeros((2, *model.input_shape[1:]), dtype=np.float32)
    assert tuple(model(x).shape) == (2, *model.output_shape[1:])


def test_the_sheet_network_counts_for_both_readings():
    # Independent arithmetic: (k*k*cin + 1)*cout per conv, (nin + 1)*nout per dense layer.
    conv = (5 * 5 * 1 + 1) * 32 + (5 * 5 * 32 + 1) * 64
    head = (1024 + 1) * 10
    valid = conv + (4 * 4 * 64 + 1) * 1024 + head   # 28 -> 24 -> 12 -> 8 -> 4
    same = conv + (7 * 7 * 64 + 1) * 1024 + head    # 28 -> 28 -> 14 -> 14 -> 7
    assert int(models.param_table(models.create_model("huji_cnn"))["params"].sum()) == valid
    assert int(models.param_table(models.create_model("huji_cnn_same"))["params"].sum()) == same


def test_variants_are_arguments_and_change_the_layers():
    t = models.param_table(models.create_model("huji_cnn", filters=(4, 8), dense_units=16, dropout=0.5,
                                               dropout_after="hidden"))
    assert list(t.loc[t["type"] == "Dropout", "layer"]) == ["block1_dropout", "block2_dropout", "fc1_dropout"]
    assert t.loc[t["layer"] == "fc1", "formula"].item() == "128*16 + 16"
    lin = models.create_model("huji_cnn_linear")
    assert [type(l).__name__ for l in lin.layers].count("AveragePooling2D") == 2
    assert all(getattr(l, "activation", None) is None or l.activation.__name__ == "linear" for l in lin.layers)


def test_unknown_model_lists_the_registered_ones():
    with pytest.raises(KeyError) as e:
        models.create_model("resnet")
    for name in models.list_models():
        assert name in str(e.value)


def test_size_rules_explain_the_shapes():
    t = models.param_table(models.create_model("huji_cnn"))
    rules = dict(zip(t["layer"], t["size_rule"]))
    assert rules["conv1"] == "28 - 5 + 1 = 24" and rules["pool2"] == "floor(8/2) = 4"
    assert rules["flatten"] == "4 * 4 * 64 = 1024"


def test_forward_flops_follow_the_layer_shapes():
    from ex1.bench import forward_flops

    # conv1 24x24x32 outputs of 5x5x1, conv2 8x8x64 of 5x5x32, dense 1024->1024 and 1024->10, 2 FLOPs per MAC
    hand = 2 * (24 * 24 * 32 * 25 + 8 * 8 * 64 * 25 * 32 + 1024 * 1024 + 1024 * 10)
    assert forward_flops(models.create_model("huji_cnn")) == hand
