"""bbwizard: from a Bitbucket Cloud OAuth consumer to a cloned repository that keeps working.

Kept empty of imports on purpose: ``bbwizard token`` and the git credential helper must start
fast, so nothing here pulls in Textual, httpx or rich.
"""

__version__ = "0.1.0"
