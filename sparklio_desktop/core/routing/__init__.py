"""Routing: from a request, the catalog, the policy and the live state to a decision.

``planner`` builds the live state (keys, local models, session failures, month spend, ratings)
and is the one caller of ``router``; ``scoring`` is the router's hot loop; ``decision`` and
``explain`` are what it returns (calls are priced by
:mod:`sparklio_desktop.core.pricing`); ``live`` probes
the machine. See docs/routing.md for the rules and docs/architecture.md for where this sits.
"""
