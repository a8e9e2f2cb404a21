"""Run with ``python3 -m unittest`` in this folder."""

import unittest

import report


class GreetingTest(unittest.TestCase):
    def test_greets_by_name(self) -> None:
        self.assertEqual(report.greeting("Ann"), "Hello, Ann, from {{name}}.\n")


if __name__ == "__main__":
    unittest.main()
