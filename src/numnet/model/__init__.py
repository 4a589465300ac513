"""The model: `Network` (layers + cost, with fit / evaluate / predict / save), loading from files, and
two-sided gradient checking. Sits on top of `nn` (its parts) and `train` (its training loop)."""
from .gradcheck import (GradCheckResult, gradcheck, gradcheck_combinations, gradient_error, numerical_gradient,
                        relative_error)
from .network import Evaluation, Network, RegressionEvaluation, load_checkpoint
from .population import Ensemble, Population, load
from .transfer import output_head, reinitialize, transfer

__all__ = ["Network", "Population", "Ensemble", "Evaluation", "load", "load_checkpoint", "gradcheck", "gradcheck_combinations", "GradCheckResult",
           "relative_error", "gradient_error", "numerical_gradient", "RegressionEvaluation", "transfer",
           "reinitialize", "output_head"]
