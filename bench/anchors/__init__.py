"""The anchors each gateway figure is compared with, measured in the same run (A2 and A3 here;
A1 is nginx, configured in ``bench/fleet.py``)."""
