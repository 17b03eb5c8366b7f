import unittest

from demolib import greet


class GreetTest(unittest.TestCase):
    def test_greet(self):
        self.assertEqual(greet("zuulish"), "Hello, zuulish!")


if __name__ == "__main__":
    unittest.main()
