"""Scaling out on Dask: the estimators on a real dask.distributed cluster.

A LocalCluster of two worker processes on the loopback interface (no
dashboard) runs a GridSearchCV through joblib's Dask backend and an
out-of-core partial_fit over the chunks of a Dask array with dask-ml's
Incremental. Results are compared bit for bit with the same work done in this
process, so the estimators survive pickling to and from the workers.
"""

from __future__ import annotations

import dask
import dask.array as da
import joblib
import numpy as np
import pytest
from dask.distributed import Client, LocalCluster, get_task_stream
from dask_ml.wrappers import Incremental
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fcnn.estimators import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client():
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        yield client


def _workers(client: Client) -> set[str]:
    return set(client.scheduler_info()["workers"])


def test_cluster_is_two_local_worker_processes(client) -> None:
    workers = _workers(client)
    assert len(workers) == 2
    assert all(address.startswith("tcp://127.0.0.1:") for address in workers)


def test_grid_search_through_joblib_dask_backend_matches_a_local_run(client) -> None:
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(max_iter=60, learning_rate_init=1e-2, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(4,), (32,)],
            "mlpclassifier__activation": ["relu", "tanh"]}
    cv = KFold(3, shuffle=True, random_state=0)

    local = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        distributed = GridSearchCV(pipe, grid, cv=cv, n_jobs=-1).fit(X, y)

    ran_on = {task["worker"] for task in tasks.data}
    assert ran_on and ran_on <= _workers(client)  # the cluster did the fitting
    assert distributed.best_params_ == local.best_params_
    for key in ("mean_test_score", "split0_test_score", "split1_test_score", "split2_test_score"):
        assert_array_equal(distributed.cv_results_[key], local.cv_results_[key])
    assert distributed.best_score_ > 0.9


def test_models_trained_on_workers_are_bit_identical_to_local_ones(client) -> None:
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), dropout=0.1,
                                                         max_iter=30, random_state=3))
    cv = KFold(3, shuffle=True, random_state=0)
    local = cross_validate(pipe, X, y, cv=cv, return_estimator=True)
    with joblib.parallel_backend("dask"):
        remote = cross_validate(pipe, X, y, cv=cv, return_estimator=True, n_jobs=-1)
    for ours, theirs in zip(local["estimator"], remote["estimator"], strict=True):
        assert ours[-1].loss_curve_ == theirs[-1].loss_curve_
        for w_local, w_remote in zip(ours[-1].coefs_, theirs[-1].coefs_, strict=True):
            assert_array_equal(w_local, w_remote)


def test_incremental_partial_fit_over_dask_array_chunks(client) -> None:
    X, y = make_classification(2500, 10, n_informative=5, random_state=0)
    X_train = da.from_array(X[:2000], chunks=(500, 10))
    y_train = da.from_array(y[:2000], chunks=500)
    X_test, y_test = X[2000:], y[2000:]
    assert X_train.numblocks == (4, 1)  # larger than one chunk
    est = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=1e-2, batch_size=50,
                        random_state=0)

    # dask-ml: each pass sends the model from chunk to chunk across the workers
    incremental = Incremental(est, shuffle_blocks=False)
    with get_task_stream(client) as tasks:
        for _ in range(5):
            incremental.partial_fit(X_train, y_train, classes=[0, 1])
    assert {task["worker"] for task in tasks.data} <= _workers(client)
    assert tasks.data

    # the same chunks, loaded one at a time from the cluster, by hand
    by_hand = clone(est)
    for _ in range(5):
        for X_block, y_block in zip(X_train.to_delayed().ravel(), y_train.to_delayed(),
                                    strict=True):
            by_hand.partial_fit(*dask.compute(X_block, y_block), classes=[0, 1])

    fitted = incremental.estimator_
    # scikit-learn's partial_fit counts the one epoch of its call: n_iter_ is 1, t_ adds up
    assert fitted.n_iter_ == by_hand.n_iter_ == 1
    assert fitted.t_ == by_hand.t_ == 5 * 2000
    assert fitted.loss_curve_ == by_hand.loss_curve_
    for w_cluster, w_hand in zip(fitted.coefs_, by_hand.coefs_, strict=True):
        assert_array_equal(w_cluster, w_hand)
    # it learned: held-out accuracy, from predictions made chunk by chunk on the cluster
    predicted = incremental.predict(da.from_array(X_test, chunks=(250, 10))).compute()
    assert_array_equal(predicted, by_hand.predict(X_test))
    assert np.mean(predicted == y_test) > 0.85

