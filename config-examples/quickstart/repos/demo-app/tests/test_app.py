import unittest

import app


class AppTest(unittest.TestCase):
    def test_default_greeting(self):
        self.assertEqual(app.main(["app"]), "Hello, world!")


if __name__ == "__main__":
    unittest.main()
