"""The menu bar and toolbar, one module per menu. Each ``build_*`` gets the few collaborators its entries call and
an ``ActionRegistry``, to which it adds its named actions, so tests and other code can trigger exactly what a user
would click. None of them is given the window, and none assigns anything onto it."""
