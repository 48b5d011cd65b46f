"""CSV imports in the background: orders and stock receipts, checked first (a dry run), then imported.

``base`` holds the file reading and the handler interface, ``registry`` the
handlers by kind (orders registers its own from ``OrdersConfig.ready``, so
inventory never imports orders), ``services`` the job's steps and
``stock_receipts`` the receipt handler. Import from the submodules: this
package is imported while the models load, so it stays empty.
"""
