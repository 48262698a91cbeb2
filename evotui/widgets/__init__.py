"""The viewer's widgets and screens, one module per area of the screen. They only render: the
data they show comes from the plain modules (evotui.index, evotui.diff, evotui.dynamics)."""
