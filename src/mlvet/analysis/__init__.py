"""Analysis engines: the symbolic pickle machine and rules over structural views."""
