"""``winnow serve``: an HTTP API (FastAPI + uvicorn, the ``serve`` extra) and a search page over
Winnow indexes and pipelines. Imported only by ``winnow serve`` and by code that asks for it."""
from winnow.serve.app import create_app
from winnow.serve.limits import ServeLimits
from winnow.serve.pipelines import Pipeline, pipeline_from_index, pipeline_from_ray, pipelines_from_config

__all__ = ["Pipeline", "ServeLimits", "create_app", "pipeline_from_index", "pipeline_from_ray",
           "pipelines_from_config"]
