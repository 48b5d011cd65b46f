"""Products and warehouses in the console (the inventory issue adds stock)."""

from django.contrib import admin

from .models import Product, Warehouse


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "weight_kg", "is_active")
    list_filter = ("is_active",)
    search_fields = ("sku", "name")


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "state", "postal_code", "is_active")
    list_filter = ("is_active", "state")
    search_fields = ("code", "name", "city", "postal_code")
