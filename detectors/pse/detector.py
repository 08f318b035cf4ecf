"""``FedPSEDetector``: federated autoencoder detectors with PSE personalization (PyOD contract).

Method (reconstruction of PSE, Xia, Li, Ding, ICCV 2023, for lines / plants; README.md here):
clients never pool rows. Each round every client trains a copy of the global autoencoder on its
own rows and uploads only the parameters; the server averages them (FedAvg, optional FedProx).
Each client also keeps a persistent local model: its low-level units are "excited" toward the
global units where the global ones fit the client's data better (channel-wise gradient
differentiation), and a cross-model attention lets the local high-level features read the
global ones. Score per client: z(personal reconstruction error) + alpha * z(global error), both
standardized on that client's training rows; threshold per client.

``mode`` switches to the baselines on the same code path: "local" (each client alone, no
communication), "fedavg" (global model only) and "fedavg_ft" (global model fine-tuned locally).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Self

import numpy as np
import torch
from pyod.models.base import BaseDetector

from detectors.common import (
    apply_robust_scale,
    check_contamination,
    check_matrix,
    labels_from_scores,
    loadable_device,
    module_tensors,
    prefixed_state,
    resolve_device,
    robust_location_scale,
    row_shares,
    seed_of,
    to_jsonable,
    torch_threads,
)
from detectors.pse import federated
from detectors.pse.federated import PSEClient, errors
from detectors.pse.torch_model import (
    CrossModelAttention,
    PersonalizedAutoEncoder,
    PSEAutoEncoder,
    default_widths,
)

MODES = ("pse", "fedavg", "fedavg_ft", "local")
DEFAULT_CLIENT = "default"
_MAX_THREADS = 8  # n_threads=None: up to this many (capped at the cores)


def _robust(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD scale of a client's training errors, floored at 1e-12 (never 1)."""
    return robust_location_scale(values, floor=1e-12, fallback=1e-12)


class FedPSEDetector(BaseDetector):
    """Federated, personalized autoencoder anomaly detector (PyOD contract).

    Parameters
    ----------
    contamination : expected anomaly share in (0, 0.5]; thresholds are set per client.
    mode : "pse" (default), "fedavg", "fedavg_ft" or "local" (baselines, see module doc).
    rounds, frac : federated rounds and the share of clients taking part in each.
    local_steps : Adam steps per round on a client's copy of the global model.
    personal_steps : steps per round on the client's personalized model; ``finetune_steps``
        more after the last round (local-only gets rounds * max(local, personal) + finetune).
    mu : FedProx proximal weight (0 = FedAvg).
    kappa, eta_e : excitation sharpness and blend rate (one blend per personal phase);
        ``min_samples_personalize``: clients with fewer rows follow the global low-level units
        fully (e = 1, cold start).
    attn_tokens : tokens the low-level features are split into for cross-model attention.
    alpha_global : weight of the global model's standardized error in the PSE score.
    prox_personal : Ditto-style pull of the local high-level layers toward the global ones
        (the optional mu term of methods.md §5.2; 0 disables it).
    scaling : "federated" (shared mean / sd pooled from per-client moments) or "local".
    hidden, latent : autoencoder widths (default sized to the feature count).
    device : "cpu" (default) or "cuda"; ``n_threads`` torch CPU threads (default 1).
    """

    def __init__(
        self,
        contamination: float = 0.1,
        mode: str = "pse",
        rounds: int = 20,
        frac: float = 1.0,
        local_steps: int = 20,
        personal_steps: int = 20,
        finetune_steps: int = 100,
        batch_size: int = 64,
        lr: float = 1e-3,
        mu: float = 0.0,
        kappa: float = 5.0,
        eta_e: float = 0.1,
        min_samples_personalize: int = 64,
        attn_tokens: int = 8,
        alpha_global: float = 1.0,
        prox_personal: float = 0.0,
        scaling: str = "federated",
        hidden: tuple[int, int] | None = None,
        latent: int | None = None,
        random_state: int | None = None,
        device: str = "cpu",
        n_threads: int | None = 1,
        verbose: bool = False,
    ) -> None:
        self.contamination = contamination
        self.mode = mode
        self.rounds = rounds
        self.frac = frac
        self.local_steps = local_steps
        self.personal_steps = personal_steps
        self.finetune_steps = finetune_steps
        self.batch_size = batch_size
        self.lr = lr
        self.mu = mu
        self.kappa = kappa
        self.eta_e = eta_e
        self.min_samples_personalize = min_samples_personalize
        self.attn_tokens = attn_tokens
        self.alpha_global = alpha_global
        self.prox_personal = prox_personal
        self.scaling = scaling
        self.hidden = hidden
        self.latent = latent
        self.random_state = random_state
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        check_contamination(self.contamination)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.scaling not in ("federated", "local"):
            raise ValueError(f"scaling must be 'federated' or 'local', got {self.scaling!r}")
        if int(self.rounds) < 1 or not 0.0 < float(self.frac) <= 1.0:
            raise ValueError("rounds must be >= 1 and frac in (0, 1]")
        if self.hidden is not None and (len(tuple(self.hidden)) != 2 or
                                        int(self.hidden[1]) % int(self.attn_tokens)):  # fmt: skip
            raise ValueError("hidden must be (h1, h2) with h2 a multiple of attn_tokens")

    def _make_ae(self) -> PSEAutoEncoder:
        return PSEAutoEncoder(self.n_features_in_, tuple(self.hidden_), int(self.latent_dim_))

    def _make_personal(self) -> PersonalizedAutoEncoder:
        att = CrossModelAttention(int(self.hidden_[1]), int(self.attn_tokens))
        return PersonalizedAutoEncoder(self._make_ae(), att)

    def _check_fitted(self) -> None:
        if not hasattr(self, "global_model_"):
            raise RuntimeError("FedPSEDetector is not fitted; call fit or fit_federated first")

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> FedPSEDetector:
        """Single-client training (one line's trainer): the same architecture, one client.

        With one client FedAvg is just local training of the global copy, so the result is a
        local autoencoder plus a personalized twin that attends to it. ``y`` is ignored.
        """
        del y  # labels never reach training
        return self.fit_federated({DEFAULT_CLIENT: X})

    def fit_federated(self, clients: dict[str, Any], rounds: int | None = None) -> FedPSEDetector:
        """Federated training over ``clients`` (name -> that client's unlabeled rows).

        Rows stay inside their client object; the server sees parameters and sample counts
        (and per-feature moments for ``scaling="federated"``). ``rounds`` overrides the
        constructor's value for this call only.
        """
        self._check_params()
        if not clients:
            raise ValueError("fit_federated needs at least one client")
        arrays = {
            str(k): check_matrix(v, name=f"client {k!r}", dtype=np.float32)
            for k, v in clients.items()
        }
        dims = {a.shape[1] for a in arrays.values()}
        if len(dims) != 1:
            raise ValueError(f"all clients must have the same feature count, got {sorted(dims)}")
        small = [k for k, a in arrays.items() if a.shape[0] < 4]
        if small:
            raise ValueError(f"clients need at least 4 rows each: {small}")
        t_start = time.perf_counter()
        seed = seed_of(self.random_state)
        device = resolve_device(self.device)
        n_rounds = int(self.rounds if rounds is None else rounds)
        self.n_features_in_ = dims.pop()
        self._set_n_classes(None)
        hidden, latent = default_widths(self.n_features_in_, int(self.attn_tokens))
        self.hidden_ = list(self.hidden) if self.hidden else list(hidden)
        self.latent_dim_ = int(self.latent or latent)
        names = list(arrays)
        self.client_names_ = names
        bs, lr = int(self.batch_size), float(self.lr)

        with torch_threads(self.n_threads, _MAX_THREADS):
            nodes = {
                k: PSEClient(torch.from_numpy(a), seed + 1009 * (i + 1), device)
                for i, (k, a) in enumerate(arrays.items())
            }
            del arrays  # from here on, rows live only inside the clients
            moments = {k: c.moments() for k, c in nodes.items()}
            pooled_mean, pooled_sd = federated.pooled_moments(list(moments.values()))
            self.feature_median_, self.feature_scale_ = pooled_mean, pooled_sd
            self.client_center_: dict[str, list[float]] = {}
            self.client_scale_: dict[str, list[float]] = {}
            for k, c in nodes.items():
                if self.scaling == "federated":
                    center, scale = pooled_mean, pooled_sd
                else:
                    m = moments[k]
                    center = m.mean
                    sd = np.sqrt(m.m2 / max(1, m.n - 1))
                    scale = np.where(sd > 1e-8, sd, 1.0)
                c.set_scaling(center, scale)
                self.client_center_[k] = [float(v) for v in center]
                self.client_scale_[k] = [float(v) for v in scale]

            torch.manual_seed(seed)
            global_model = self._make_ae().to(device)
            init_state = copy.deepcopy(global_model.state_dict())
            use_att = self.mode == "pse"
            for i, c in enumerate(nodes.values()):
                torch.manual_seed(seed + 7 * (i + 1))
                local = self._make_ae()
                local.load_state_dict(init_state)
                c.init_personal(local, int(self.attn_tokens), int(self.hidden_[1]), lr)

            rng = np.random.default_rng(seed)
            trace: list[dict[str, Any]] = []
            if self.mode == "local":
                steps = n_rounds * max(int(self.local_steps), int(self.personal_steps))
                for c in nodes.values():
                    c.personalize(global_model, steps + int(self.finetune_steps), bs,
                                  0.0, 0.0, False, False)  # fmt: skip
            else:
                for r in range(n_rounds):
                    t0 = time.perf_counter()
                    m = max(1, int(round(float(self.frac) * len(names))))
                    chosen = sorted(rng.choice(len(names), size=m, replace=False))
                    updates = []
                    for j in chosen:
                        c = nodes[names[j]]
                        updates.append(
                            c.local_update(
                                global_model, int(self.local_steps), bs, lr, float(self.mu)
                            )
                        )
                        if self.mode == "pse":
                            c.personalize(
                                global_model, int(self.personal_steps), bs, float(self.kappa),
                                float(self.eta_e), self._excite_on(c), use_att,
                                float(self.prox_personal),
                            )  # fmt: skip
                    global_model.load_state_dict(federated.fedavg(updates))
                    trace.append({"round": r, "clients": len(updates),
                                  "seconds": round(time.perf_counter() - t0, 4)})  # fmt: skip
                    if self.verbose:
                        print(f"[pse] round {r}: {len(updates)} clients")
                if self.mode == "fedavg_ft":
                    for c in nodes.values():
                        assert c.personal is not None
                        c.personal.local.load_state_dict(global_model.state_dict())
                if self.mode == "fedavg_ft":
                    for c in nodes.values():
                        c.personalize(
                            global_model, int(self.finetune_steps), bs, float(self.kappa), 0.0,
                            self._excite_on(c), use_att, float(self.prox_personal),
                        )  # fmt: skip
                if self.mode == "pse":
                    self._finetune_pse(nodes, global_model)
            global_model.requires_grad_(False)
            self.global_model_ = global_model.eval()

            # per-client score standardization and thresholds, computed inside each client
            self.personal_models_: dict[str, PersonalizedAutoEncoder] = {}
            self.client_stats_: dict[str, list[float]] = {}
            self.client_thresholds_: dict[str, float] = {}
            self.client_n_: dict[str, int] = {}
            all_scores = []
            for k, c in nodes.items():
                assert c.personal is not None
                c.personal.requires_grad_(False)
                self.personal_models_[k] = c.personal.eval()
                rec_p, rec_g = c.training_errors(self.global_model_, use_att)
                self.client_stats_[k] = [*_robust(rec_p), *_robust(rec_g)]
                s = self._combine(k, rec_p, rec_g)
                self.client_thresholds_[k] = float(
                    np.percentile(s, 100 * (1 - float(self.contamination)))
                )
                self.client_n_[k] = c.n_samples
                all_scores.append(s)
                c.release_data()
        self.decision_scores_ = np.concatenate(all_scores)
        self.rounds_trace_ = trace
        self.fit_seconds_ = round(time.perf_counter() - t_start, 4)
        self._process_decision_scores()
        return self

    def _finetune_pse(self, nodes: dict[str, PSEClient], global_model: PSEAutoEncoder) -> None:
        """Final PSE steps against the last global model, in round-sized calls so that the
        excitation blends as often per step as during the rounds."""
        chunk = max(1, int(self.personal_steps))
        for c in nodes.values():
            left = int(self.finetune_steps)
            while left > 0:
                c.personalize(
                    global_model, min(chunk, left), int(self.batch_size), float(self.kappa),
                    float(self.eta_e), self._excite_on(c), True, float(self.prox_personal),
                )  # fmt: skip
                left -= chunk

    def _excite_on(self, client: PSEClient) -> bool:
        return client.n_samples >= int(self.min_samples_personalize)

    def _combine(self, client: str, rec_p: np.ndarray, rec_g: np.ndarray) -> np.ndarray:
        pl, ps, gl, gs = self.client_stats_[client]
        z_g = (rec_g - gl) / gs
        if self.mode == "fedavg":
            return z_g
        z_p = (rec_p - pl) / ps
        if self.mode == "pse":
            return z_p + float(self.alpha_global) * z_g
        return z_p

    # ------------------------------------------------------------------ scoring
    def _client(self, client: str | None) -> str:
        self._check_fitted()
        if client is None:
            if len(self.client_names_) == 1:
                return self.client_names_[0]
            raise ValueError(
                f"this detector has {len(self.client_names_)} clients; pass client= one of "
                f"{self.client_names_}"
            )
        if client not in self.client_center_:
            raise ValueError(f"unknown client {client!r}; known: {self.client_names_}")
        return client

    def _scaled(self, X: Any, client: str) -> torch.Tensor:
        arr = check_matrix(X, self.n_features_in_, dtype=np.float32)
        center, scale = self.client_center_[client], self.client_scale_[client]
        return torch.from_numpy(apply_robust_scale(arr, center, scale))

    def decision_function(self, X: Any, client: str | None = None) -> np.ndarray:
        """Anomaly score per row for ``client`` (optional when there is a single client)."""
        name = self._client(client)
        with torch_threads(self.n_threads, _MAX_THREADS):
            personal = None if self.mode == "fedavg" else self.personal_models_[name]
            rec_p, rec_g = errors(self._scaled(X, name), personal, self.global_model_,
                                  self.mode == "pse", resolve_device(self.device))  # fmt: skip
        return self._combine(name, rec_p, rec_g)

    def predict(self, X: Any, return_confidence: bool = False, client: str | None = None) -> Any:
        """1 above the client's own threshold (its training (1 - contamination) quantile)."""
        name = self._client(client)
        pred = (self.decision_function(X, client=name) > self.client_thresholds_[name]).astype(int)
        if return_confidence:
            raise NotImplementedError("confidence is not defined per client; use scores")
        return pred

    @torch.no_grad()
    def explain(self, X: Any, client: str | None = None) -> np.ndarray:
        """Per-feature share of the squared reconstruction error of the client's scoring model."""
        name = self._client(client)
        x = self._scaled(X, name).to(resolve_device(self.device))
        with torch_threads(self.n_threads, _MAX_THREADS):
            if self.mode == "fedavg":
                recon = self.global_model_(x)
            elif self.mode == "pse":
                recon = self.personal_models_[name](x, self.global_model_)
            else:
                recon = self.personal_models_[name].local(x)
        return row_shares((x - recon).pow(2).double().cpu().numpy())

    # ------------------------------------------------------------------ persistence (no pickle)
    _FITTED = (
        "n_features_in_", "hidden_", "latent_dim_", "client_names_", "client_center_",
        "client_scale_", "client_stats_", "client_thresholds_", "client_n_", "threshold_",
        "rounds_trace_", "fit_seconds_", "_mu", "_sigma", "_classes",
    )  # fmt: skip

    def kdmon_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able params + fitted state, tensors) for ``detectors.persistence``."""
        self._check_fitted()
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        fitted = {k: to_jsonable(getattr(self, k)) for k in self._FITTED}
        fitted["feature_median_"] = np.asarray(self.feature_median_).tolist()
        fitted["feature_scale_"] = np.asarray(self.feature_scale_).tolist()
        meta = {"detector": "pse", "format": 1, "params": params, "fitted": fitted}
        tensors = module_tensors(self.global_model_, "global.")
        for i, name in enumerate(self.client_names_):
            tensors.update(module_tensors(self.personal_models_[name], f"client{i}."))
        tensors["fitted.decision_scores"] = torch.from_numpy(np.asarray(self.decision_scores_))
        return meta, tensors

    @classmethod
    def from_kdmon_state(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Self:
        """Rebuild a fitted detector from ``kdmon_state`` output (CPU fallback for cuda models)."""
        params = dict(meta["params"])
        if params.get("hidden") is not None:
            params["hidden"] = tuple(params["hidden"])
        params["device"] = loadable_device(params.get("device", "cpu"))
        det = cls(**params)
        fitted = meta["fitted"]
        for k in cls._FITTED:
            setattr(det, k, fitted[k])
        det.feature_median_ = np.asarray(fitted["feature_median_"], dtype=np.float64)
        det.feature_scale_ = np.asarray(fitted["feature_scale_"], dtype=np.float64)
        g = det._make_ae()
        g.load_state_dict(prefixed_state(tensors, "global."))
        g.requires_grad_(False)
        det.global_model_ = g.eval()
        det.personal_models_ = {}
        for i, name in enumerate(det.client_names_):
            p = det._make_personal()
            p.load_state_dict(prefixed_state(tensors, f"client{i}."))
            p.requires_grad_(False)
            det.personal_models_[name] = p.eval()
        det.decision_scores_ = tensors["fitted.decision_scores"].numpy().astype(np.float64)
        det.labels_ = labels_from_scores(det.decision_scores_, det.threshold_)
        return det
